// SIMD in Rust: loops LLVM auto-vectorises with -C target-feature=+simd128, and explicit
// core::arch::wasm32 intrinsics (a scalar path with the same results elsewhere).
// The same source is the native yardstick in scripts/bench.py (argument: rounds).

fn saxpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = a * *xi + *yi;
    }
}

fn checksum(v: &[i32]) -> i64 {
    v.iter().map(|&x| x as i64).sum()
}

fn mix(a: &[u8], b: &[u8], out: &mut [u8]) {
    for i in 0..out.len() {
        out[i] = a[i].saturating_add(b[i]) ^ (a[i] >> 1);
    }
}

fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    let mut s = 0i32;
    for i in 0..a.len() {
        s = s.wrapping_add(a[i] as i32 * b[i] as i32);
    }
    s
}

#[cfg(target_arch = "wasm32")]
fn intrinsics(bytes: &[u8; 16], idx: &[u8; 16], a: &[i16; 8], b: &[i16; 8]) -> ([u8; 16], [i32; 4], u32) {
    use core::arch::wasm32::*;
    unsafe {
        let v = v128_load(bytes.as_ptr() as *const v128);
        let s = i8x16_swizzle(v, v128_load(idx.as_ptr() as *const v128));
        let d = i32x4_dot_i16x8(v128_load(a.as_ptr() as *const v128), v128_load(b.as_ptr() as *const v128));
        let m = i8x16_bitmask(i8x16_lt(v, i8x16_splat(0)));
        let mut out = [0u8; 16];
        let mut dots = [0i32; 4];
        v128_store(out.as_mut_ptr() as *mut v128, s);
        v128_store(dots.as_mut_ptr() as *mut v128, d);
        (out, dots, m as u32)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn intrinsics(bytes: &[u8; 16], idx: &[u8; 16], a: &[i16; 8], b: &[i16; 8]) -> ([u8; 16], [i32; 4], u32) {
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = if idx[i] < 16 { bytes[idx[i] as usize] } else { 0 };
    }
    let mut dots = [0i32; 4];
    for i in 0..4 {
        dots[i] = (a[2 * i] as i32 * b[2 * i] as i32).wrapping_add(a[2 * i + 1] as i32 * b[2 * i + 1] as i32);
    }
    let mut m = 0u32;
    for i in 0..16 {
        if (bytes[i] as i8) < 0 {
            m |= 1 << i;
        }
    }
    (out, dots, m)
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(20000);
    let n = 1 << 16;
    let x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.25).collect();
    let mut y: Vec<f32> = (0..n).map(|i| (i % 13) as f32).collect();
    let mut ints: Vec<i32> = (0..n as i32).map(|i| i.wrapping_mul(2654435761u32 as i32) >> 7).collect();
    let a8: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
    let b8: Vec<u8> = (0..n).map(|i| (i * 13 + 5) as u8).collect();
    let mut m8 = vec![0u8; n];
    let a16: Vec<i16> = (0..n).map(|i| (i as i16).wrapping_mul(31)).collect();
    let b16: Vec<i16> = (0..n).map(|i| (i as i16) ^ 0x5a5a).collect();
    let mut acc = 0i64;
    for r in 0..rounds {
        saxpy(0.5, &x, &mut y);
        for v in ints.iter_mut() {
            *v = v.wrapping_add(r as i32) ^ (*v >> 3);
        }
        acc = acc.wrapping_add(checksum(&ints));
        mix(&a8, &b8, &mut m8);
        acc = acc.wrapping_add(m8.iter().map(|&b| b as i64).sum::<i64>());
        acc = acc.wrapping_add(dot_i16(&a16, &b16) as i64);
    }
    let ysum: f64 = y.iter().map(|&v| v as f64).sum();
    println!("rounds {} acc {} y {:.3}", rounds, acc, ysum);
    let bytes: [u8; 16] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x80);
    let idx: [u8; 16] = core::array::from_fn(|i| [3, 200, 15, 0, 16, 7, 255, 1, 2, 9, 31, 4, 8, 12, 5, 6][i]);
    let a: [i16; 8] = [1, -2, 300, -32768, 32767, 7, -9, 11];
    let b: [i16; 8] = [-5, 6, 7, -32768, 2, -3, 100, 12];
    let (sw, dots, mask) = intrinsics(&bytes, &idx, &a, &b);
    println!("swizzle {:?}", sw);
    println!("dot {:?} bitmask {:#06x}", dots, mask);
}
