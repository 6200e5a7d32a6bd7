// Integer and bit operations: xorshift streams, popcount/leading/trailing zeros, rotates,
// a bitwise CRC-32 and 64-bit multiply-xor hashing. Checksum printed for checking.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn main() {
    let seed = std::env::args().count() as u64;   // not a constant the optimiser can fold
    let mut s = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    let mut acc = 0u64;
    for i in 0..30_000_000u64 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let w = s as u32;
        acc = acc.wrapping_add((s.count_ones() + w.leading_zeros() + (s | 1).trailing_zeros()) as u64);
        acc ^= s.rotate_left((i & 63) as u32) & 0x00FF_00FF_00FF_00FF;
        acc = acc.wrapping_add(mix(acc ^ i) >> 60);
    }
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (mix(i as u64 ^ seed) & 0xFF) as u8).collect();
    println!("bits {:016x} crc {:08x}", acc, crc32(&data));
}
