//! Exits with the status given as its first argument, after printing something.
fn main() {
    let code: i32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    println!("exiting with {}", code);
    std::process::exit(code);
}
