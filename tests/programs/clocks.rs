//! Checks the clocks: wall time is plausible, Instant is monotonic, sleep really waits.
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970");
    println!("realtime after 2020: {}", now.as_secs() > 1_577_836_800);
    let start = Instant::now();
    let mut last = start;
    for _ in 0..1000 {
        let t = Instant::now();
        assert!(t >= last, "monotonic clock went backwards");
        last = t;
    }
    println!("monotonic: ok");
    for ms in [1u64, 20, 100] {
        let before = Instant::now();
        sleep(Duration::from_millis(ms));
        let slept = before.elapsed();
        println!("sleep {}ms: waited enough: {}", ms, slept >= Duration::from_millis(ms));
    }
    let total = start.elapsed();
    println!("total under 5s: {}", total < Duration::from_secs(5));
}
