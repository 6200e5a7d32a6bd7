//! Copies stdin to stdout until EOF, then reports the byte and line counts on stderr.
use std::io::{self, Read, Write};

fn main() {
    let mut data = Vec::new();
    io::stdin().read_to_end(&mut data).expect("read stdin");
    io::stdout().write_all(&data).expect("write stdout");
    let lines = data.iter().filter(|&&b| b == b'\n').count();
    eprintln!("{} bytes, {} lines", data.len(), lines);
}
