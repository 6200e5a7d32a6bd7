//! Tries to get out of the preopened directory (first argument) in every way it can
//! think of, and prints what happened.  Nothing may reach ../outside.
use std::fs::{self, File};
use std::io;

#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    // std has no stable symlink API on wasi: call the host directly (fd 3 = first preopen).
    #[link_name = "path_symlink"]
    fn wasi_path_symlink(old: *const u8, old_len: usize, fd: u32, new: *const u8, new_len: usize) -> i32;
}

fn symlink(target: &str, name: &str) -> i32 {
    unsafe { wasi_path_symlink(target.as_ptr(), target.len(), 3, name.as_ptr(), name.len()) }
}

fn report<T>(what: &str, result: io::Result<T>) {
    match result {
        Ok(_) => println!("{}: ALLOWED", what),
        Err(e) => println!("{}: denied ({})", what, e),
    }
}

fn main() {
    let d = std::env::args().nth(1).expect("usage: escape DIR");
    report("read inside", fs::read_to_string(format!("{}/inside.txt", d)));
    report("open ../", File::open(format!("{}/../outside/secret.txt", d)));
    report("open /etc/passwd", File::open("/etc/passwd"));
    report("open sub/../../", File::open(format!("{}/sub/../../outside/secret.txt", d)));
    report("open via host symlink", File::open(format!("{}/lnout/secret.txt", d)));
    report("open absolute symlink", File::open(format!("{}/lnabs", d)));
    report("write ../", fs::write(format!("{}/../outside/pwned.txt", d), "x"));
    report("mkdir ../", fs::create_dir(format!("{}/sub/../../outside/newdir", d)));
    report("list ..", fs::read_dir(format!("{}/..", d)));
    report("rename out", fs::rename(format!("{}/inside.txt", d), format!("{}/../outside/moved", d)));
    report("hard link out", fs::hard_link(format!("{}/inside.txt", d), format!("{}/../outside/hl", d)));
    report("truncate via symlink", File::create(format!("{}/lnout/secret.txt", d)));

    println!("guest symlink to ../outside: errno {}", symlink("../outside", "mine"));
    report("open via guest symlink", File::open(format!("{}/mine/secret.txt", d)));
    report("write via guest symlink", fs::write(format!("{}/mine/pwned", d), "x"));
    println!("guest symlink to /etc: errno {}", symlink("/etc", "abs"));
    println!("guest symlink to ..: errno {}", symlink("..", "sub/up"));
    report("open sub/up/inside.txt", File::open(format!("{}/sub/up/inside.txt", d)));
    report("open sub/up/../outside", File::open(format!("{}/sub/up/../outside/secret.txt", d)));

    match fs::read_link(format!("{}/lnout", d)) {
        Ok(target) => println!("read_link lnout: {}", target.display()),
        Err(e) => println!("read_link lnout: denied ({})", e),
    }
    report("remove the host symlink itself", fs::remove_file(format!("{}/lnout", d)));
    report("read inside again", fs::read_to_string(format!("{}/inside.txt", d)));
}
