//! Interleaves stdout and stderr, writes a large block, and ends without a newline:
//! output must be complete and in order even though the program exits right after.
use std::io::{self, Write};

fn main() {
    println!("out 1");
    eprintln!("err 1");
    print!("out 2, no newline yet...");
    io::stdout().flush().unwrap();
    println!(" done");
    let block = "0123456789abcdef".repeat(8192); // 128 KiB in one write
    io::stdout().write_all(block.as_bytes()).unwrap();
    println!();
    eprintln!("err 2");
    let mut lock = io::stdout().lock();
    for i in 0..1000 {
        writeln!(lock, "line {}", i).unwrap();
    }
    print!("the end");
}
