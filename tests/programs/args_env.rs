//! Prints its arguments (after argv[0]) and its environment, sorted.
use std::env;

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    println!("argc={}", args.len() + 1);
    for (i, arg) in args.iter().enumerate() {
        println!("arg[{}]={:?}", i + 1, arg);
    }
    let mut vars: Vec<(String, String)> = env::vars().collect();
    vars.sort();
    println!("envc={}", vars.len());
    for (key, value) in vars {
        println!("env {}={:?}", key, value);
    }
    println!("MISSING is set: {}", env::var("MISSING").is_ok());
}
