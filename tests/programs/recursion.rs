//! Recurses N levels (N from argv[2]) and prints a checksum.
//!   recursion native N   frames live only on the native stack (wasm locals)
//!   recursion shadow N   each frame also takes 64 bytes of the shadow stack in linear
//!                        memory (1 MiB: overflowing it is an out-of-bounds trap)
#[inline(never)]
fn native(n: u64) -> u64 {
    if n == 0 {
        return 1;
    }
    // Not a tail call, and not an accumulator LLVM could turn into a loop.
    native(n - 1).wrapping_mul(31) ^ n
}

#[inline(never)]
fn shadow(n: u64) -> u64 {
    let frame = [n; 8];
    // A volatile read keeps the frame in (shadow-stack) memory.
    let local = unsafe { std::ptr::read_volatile(&frame) };
    if n == 0 {
        return 1;
    }
    shadow(n - 1).wrapping_mul(31) ^ local[(n % 8) as usize]
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "native".to_string());
    let n: u64 = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let checksum = if mode == "shadow" { shadow(n) } else { native(n) };
    println!("{} depth {} checksum {}", mode, n, checksum);
}
