//! File-system tour inside the preopened directory given as the first argument:
//! create, append, seek, truncate, metadata, directories, listing, rename, copy, remove.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

fn listing(dir: &Path, prefix: &str, out: &mut Vec<String>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = format!("{}{}", prefix, entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            out.push(format!("{}/", name));
            listing(&entry.path(), &format!("{}/", name), out)?;
        } else {
            out.push(format!("{} ({} bytes)", name, entry.metadata()?.len()));
        }
    }
    Ok(())
}

fn show(root: &Path, when: &str) -> io::Result<()> {
    let mut out = Vec::new();
    listing(root, "", &mut out)?;
    println!("{}: {}", when, out.join(", "));
    Ok(())
}

fn main() -> io::Result<()> {
    let root = PathBuf::from(std::env::args().nth(1).expect("usage: files DIR"));
    show(&root, "initially")?;
    println!("input.txt says {:?}", fs::read_to_string(root.join("input.txt"))?);

    let notes = root.join("notes.txt");
    fs::write(&notes, "hello\n")?;
    let mut f = OpenOptions::new().append(true).open(&notes)?;
    f.write_all(b"world\n")?;
    println!("after append: {:?}", fs::read_to_string(&notes)?);

    let mut f = OpenOptions::new().read(true).write(true).open(&notes)?;
    f.seek(SeekFrom::Start(6))?;
    let mut word = [0u8; 5];
    f.read_exact(&mut word)?;
    println!("at 6: {:?}", String::from_utf8_lossy(&word));
    println!("end-1 is offset {}", f.seek(SeekFrom::End(-1))?);
    println!("back 3 is offset {}", f.seek(SeekFrom::Current(-3))?);
    f.write_all(b"L")?;
    println!("after overwrite: {:?}", fs::read_to_string(&notes)?);
    f.set_len(5)?;
    println!("truncated: {:?}", fs::read_to_string(&notes)?);
    f.set_len(8)?;
    println!("extended: {:?}", fs::read(&notes)?);

    let meta = fs::metadata(&notes)?;
    println!("metadata: len {} file {} dir {} has mtime {}",
             meta.len(), meta.is_file(), meta.is_dir(), meta.modified().is_ok());
    println!("root is dir: {}", fs::metadata(&root)?.is_dir());

    fs::create_dir_all(root.join("a/b/c"))?;
    fs::write(root.join("a/b/c/deep.txt"), "deep")?;
    fs::rename(&notes, root.join("a/renamed.txt"))?;
    println!("copied {} bytes", fs::copy(root.join("a/b/c/deep.txt"), root.join("copy.txt"))?);
    show(&root, "after creating")?;

    println!("open missing: {:?}", File::open(root.join("missing")).map_err(|e| e.kind()).err());
    println!("create_dir existing: {:?}", fs::create_dir(root.join("a")).map_err(|e| e.kind()).err());
    println!("remove non-empty dir: {}", fs::remove_dir(root.join("a")).unwrap_err());
    println!("remove dir as file: {}", fs::remove_file(root.join("a")).unwrap_err());

    fs::remove_file(root.join("copy.txt"))?;
    fs::remove_dir_all(root.join("a/b"))?;
    show(&root, "finally")?;
    Ok(())
}
