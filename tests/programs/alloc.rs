//! Allocates N MiB (default 200), touches every page, and prints a checksum.
fn main() {
    let mib: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let size = mib * 1024 * 1024;
    let mut block = vec![0u8; size];
    for i in (0..size).step_by(4096) {
        block[i] = (i / 4096 % 251) as u8;
    }
    let sum: u64 = block.iter().step_by(4096).map(|&b| b as u64).sum();
    println!("allocated {} MiB, page checksum {}", mib, sum);
    let more: Vec<Vec<u8>> = (0..16).map(|i| vec![i as u8; 1 << 20]).collect();
    println!("16 more blocks, last byte {}", more[15][(1 << 20) - 1]);
}
