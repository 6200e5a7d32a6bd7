//! Prints, then panics (panic=abort on wasm: the panic ends in an `unreachable` trap).
fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "nothing".to_string());
    println!("about to panic");
    if what == "index" {
        let v: Vec<u32> = Vec::new();
        let i = std::env::args().count() + 10;
        println!("{}", v[i]);
    }
    panic!("boom: {}", what);
}
