// Allocation and sorting: many small Vec/String allocations, sort_unstable of u64 keys,
// a stable sort of records by string key, and a BTreeMap word count.
use std::collections::BTreeMap;

fn lcg(s: &mut u64) -> u64 {
    *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    *s >> 17
}

fn main() {
    let mut s = 42u64 + std::env::args().count() as u64;
    let mut keys: Vec<u64> = (0..2_000_000).map(|_| lcg(&mut s)).collect();
    keys.sort_unstable();
    let mut digest = keys.iter().step_by(1000).fold(0u64, |a, &k| a.rotate_left(5) ^ k);

    let mut records: Vec<(String, u32)> = (0..300_000)
        .map(|i| (format!("k{:x}", lcg(&mut s) % 50_000), i))
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    for (k, v) in records.iter().step_by(997) {
        digest = digest.rotate_left(3) ^ (k.len() as u64) ^ (*v as u64);
    }

    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for _ in 0..400_000 {
        let word: String = (0..(3 + lcg(&mut s) % 4)).map(|_| (b'a' + (lcg(&mut s) % 6) as u8) as char).collect();
        *counts.entry(word).or_insert(0) += 1;
    }
    let mut boxes: Vec<Box<[u32]>> = Vec::new();
    for i in 0..200_000u32 {
        boxes.push(vec![i; (i % 17) as usize + 1].into_boxed_slice());
        if boxes.len() > 1000 {
            boxes.swap_remove((lcg(&mut s) % 1000) as usize);
        }
    }
    let total: u64 = boxes.iter().map(|b| b.len() as u64).sum();
    println!("sort {:016x} words {} boxes {}", digest, counts.len(), total);
}
