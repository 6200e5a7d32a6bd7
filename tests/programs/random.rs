//! Uses std's randomness (HashMap's RandomState seeds come from random_get).
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

fn hash_with(state: &RandomState, value: &str) -> u64 {
    let mut h = state.build_hasher();
    value.hash(&mut h);
    h.finish()
}

fn main() {
    let mut map = HashMap::new();
    for i in 0..10_000u32 {
        map.insert(format!("key{}", i), i);
    }
    let sum: u64 = map.values().map(|&v| v as u64).sum();
    println!("map len {} sum {} key500 {:?}", map.len(), sum, map.get("key500"));
    // Different RandomStates hash differently (their keys come from the host's randomness).
    let hashes: HashSet<u64> = (0..8).map(|_| hash_with(&RandomState::new(), "same")).collect();
    println!("distinct hashes from 8 states: {}", hashes.len() == 8);
    let state = RandomState::new();
    println!("same state is stable: {}", hash_with(&state, "x") == hash_with(&state, "x"));
}
