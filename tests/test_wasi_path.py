"""path_* functions inside a preopen: on wasirun and on wasmtime, same expectations.
(Escapes from the preopen are in test_wasi_sandbox.py.)"""
import os

import pytest

from wasi.abi import FDSTAT, FILESTAT, Errno, Filetype, Fstflags, Lookupflags, Oflags
from .wasi_testing import READ, READ_WRITE, RESULT_AT, GuestFactory

FOLLOW = Lookupflags.SYMLINK_FOLLOW


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"hello")
    (root / "sub").mkdir()
    (root / "sub" / "inner").write_bytes(b"in")
    os.symlink("f", root / "lnf")
    os.symlink("sub", root / "lnsub")
    os.symlink("missing", root / "dangling")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    return root


@pytest.fixture
def g(make, root):
    return make(preopens=[(str(root), "/root")])


def filetype_of(g, fd):
    assert g.call("fd_fdstat_get", fd, 64) == 0
    return FDSTAT.unpack(g.read(64, FDSTAT.size))[0]


def stat_path(g, path, flags=0, fd=3):
    errno = g.call("path_filestat_get", fd, flags, *g.put_path(path), 512)
    return errno, (FILESTAT.unpack(g.read(512, FILESTAT.size)) if errno == 0 else None)


# ---- path_open -------------------------------------------------------------------

@pytest.mark.parametrize("path,oflags,rights,dirflags,expected", [
    ("f", 0, READ, FOLLOW, 0),
    ("sub/inner", 0, READ, FOLLOW, 0),
    ("./sub/./inner", 0, READ, FOLLOW, 0),
    ("sub/../f", 0, READ, FOLLOW, 0),
    ("lnsub/inner", 0, READ, 0, 0),                   # intermediate symlinks always followed
    ("lnsub/../f", 0, READ, FOLLOW, 0),
    ("missing", 0, READ, FOLLOW, Errno.NOENT),
    ("missing/x", 0, READ, FOLLOW, Errno.NOENT),
    ("", 0, READ, FOLLOW, Errno.NOENT),
    ("f/", 0, READ, FOLLOW, Errno.NOTDIR),
    ("f/x", 0, READ, FOLLOW, Errno.NOTDIR),
    ("f", Oflags.DIRECTORY, READ, FOLLOW, Errno.NOTDIR),
    ("f", Oflags.CREAT | Oflags.EXCL, READ_WRITE, FOLLOW, Errno.EXIST),
    ("new", Oflags.CREAT | Oflags.DIRECTORY, READ_WRITE, FOLLOW, Errno.INVAL),
    ("sub", 0, READ_WRITE, FOLLOW, Errno.ISDIR),          # a directory cannot be written
    ("sub", Oflags.CREAT, READ_WRITE, FOLLOW, Errno.ISDIR),
    (".", 0, READ_WRITE, FOLLOW, Errno.ISDIR),
    ("lnf", 0, READ, 0, Errno.LOOP),                      # final symlink, not followed
    ("lnsub", Oflags.DIRECTORY, READ, 0, Errno.LOOP),
    ("lnf", 0, READ, FOLLOW, 0),
    ("loop1", 0, READ, FOLLOW, Errno.LOOP),
    ("loop1/x", 0, READ, FOLLOW, Errno.LOOP),
    ("dangling", 0, READ, FOLLOW, Errno.NOENT),
    ("x\0y", 0, READ, FOLLOW, Errno.INVAL),
    (b"\xff\xfe", 0, READ, FOLLOW, Errno.ILSEQ),
    ("a" * 300, 0, READ, FOLLOW, Errno.NAMETOOLONG),
])
def test_open_errnos(g, path, oflags, rights, dirflags, expected):
    assert g.open(3, path, oflags=oflags, rights=rights, dirflags=dirflags)[0] == expected


def test_open_directories(g):
    for path, oflags in (("sub", Oflags.DIRECTORY), ("sub", 0), (".", 0), ("sub/..", 0),
                         ("lnsub", 0), ("sub/", 0)):
        errno, fd = g.open(3, path, oflags=oflags)
        assert errno == 0 and filetype_of(g, fd) == Filetype.DIRECTORY, path
    fd = g.open(3, "sub")[1]
    assert g.open(fd, "inner")[0] == 0                          # relative to the new dir
    assert g.open(fd, "../f")[0] == Errno.PERM                  # ...and sandboxed to it


def test_open_base_must_be_a_directory(g):
    fd = g.open(3, "f")[1]
    assert g.open(fd, "x")[0] == Errno.NOTDIR
    assert g.open(1, "x")[0] == Errno.BADF
    assert g.open(42, "x")[0] == Errno.BADF


def test_create_exclusive_and_truncate(g, root):
    errno, fd = g.open(3, "new", oflags=Oflags.CREAT, rights=READ_WRITE)
    assert errno == 0 and (root / "new").read_bytes() == b""
    assert g.write_fd(fd, b"data") == (0, 4)
    assert g.open(3, "new", oflags=Oflags.CREAT | Oflags.EXCL, rights=READ_WRITE)[0] == Errno.EXIST
    assert g.open(3, "new", oflags=Oflags.CREAT, rights=READ_WRITE)[0] == 0   # no truncation
    assert (root / "new").read_bytes() == b"data"
    assert g.open(3, "new", oflags=Oflags.TRUNC, rights=READ_WRITE)[0] == 0
    assert (root / "new").read_bytes() == b""
    assert g.open(3, "sub/deeper", oflags=Oflags.CREAT, rights=READ_WRITE)[0] == 0
    assert (root / "sub" / "deeper").exists()


def test_create_through_symlinks(g, root):
    # Following a dangling symlink creates its target (inside the sandbox)...
    assert g.open(3, "dangling", oflags=Oflags.CREAT, rights=READ_WRITE)[0] == 0
    assert (root / "missing").is_file()
    # ...without following, the symlink itself is in the way.
    assert g.open(3, "lnf", oflags=Oflags.CREAT, rights=READ_WRITE, dirflags=0)[0] == Errno.LOOP


def test_exclusive_create_never_follows(root):
    # wasirun-only (POSIX O_CREAT|O_EXCL): an existing symlink is EXIST even when following.
    g = GuestFactory("wasirun")(preopens=[(str(root), "/")])
    os.unlink(root / "missing") if (root / "missing").exists() else None
    assert g.open(3, "dangling", oflags=Oflags.CREAT | Oflags.EXCL, rights=READ_WRITE)[0] == Errno.EXIST
    assert not (root / "missing").exists()


# ---- directories, unlink, rename ---------------------------------------------------

def test_create_and_remove_directories(g, root):
    assert g.path_call("path_create_directory", 3, "d") == 0 and (root / "d").is_dir()
    assert g.path_call("path_create_directory", 3, "d/e/") == 0 and (root / "d" / "e").is_dir()
    assert g.path_call("path_create_directory", 3, "d") == Errno.EXIST
    assert g.path_call("path_create_directory", 3, "x/y") == Errno.NOENT
    assert g.path_call("path_remove_directory", 3, "d") == Errno.NOTEMPTY
    # POSIX allows a trailing slash here; wasmtime (cap-std) says INVAL.
    assert g.path_call("path_remove_directory", 3, "d/e/") == (0 if g.backend == "wasirun" else Errno.INVAL)
    if g.backend == "wasmtime":
        assert g.path_call("path_remove_directory", 3, "d/e") == 0
    assert g.path_call("path_remove_directory", 3, "d") == 0 and not (root / "d").exists()
    assert g.path_call("path_remove_directory", 3, "f") == Errno.NOTDIR
    assert g.path_call("path_remove_directory", 3, "lnsub") == Errno.NOTDIR   # not followed
    assert g.path_call("path_remove_directory", 3, ".") == Errno.INVAL
    assert g.path_call("path_remove_directory", 3, "nope") == Errno.NOENT


def test_unlink(g, root):
    assert g.path_call("path_unlink_file", 3, "sub") == Errno.ISDIR
    assert g.path_call("path_unlink_file", 3, "sub/") == Errno.ISDIR
    assert g.path_call("path_unlink_file", 3, "f/") == Errno.NOTDIR
    assert g.path_call("path_unlink_file", 3, "nope") == Errno.NOENT
    assert g.path_call("path_unlink_file", 3, "lnf") == 0        # the link, not its target
    assert not (root / "lnf").is_symlink() and (root / "f").exists()
    assert g.path_call("path_unlink_file", 3, "sub/inner") == 0
    assert not (root / "sub" / "inner").exists()
    fd = g.open(3, "f")[1]
    assert g.path_call("path_unlink_file", fd, "f") == Errno.BADF   # base must be a dir


def rename(g, src, dst, src_fd=3, dst_fd=3):
    return g.call("path_rename", src_fd, *g.put_path(src), dst_fd, *g.put_path(dst, second=True))


def test_rename(make, root, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    g = make(preopens=[(str(root), "/root"), (str(other), "/other")])
    assert rename(g, "f", "g") == 0 and (root / "g").read_bytes() == b"hello"
    assert rename(g, "g", "sub/inner") == 0                      # replaces a file
    assert (root / "sub" / "inner").read_bytes() == b"hello"
    assert rename(g, "sub/inner", "moved", dst_fd=4) == 0         # across preopens
    assert (other / "moved").read_bytes() == b"hello"
    assert rename(g, "gone", "x") == Errno.NOENT
    (root / "file").write_bytes(b"")
    assert rename(g, "file", "sub") == Errno.ISDIR
    assert rename(g, "sub", "file") == Errno.NOTDIR
    assert rename(g, "lnsub", "lnsub2") == 0 and os.readlink(root / "lnsub2") == "sub"


# ---- links -------------------------------------------------------------------------

def link(g, src, dst, flags=0):
    return g.call("path_link", 3, flags, *g.put_path(src), 3, *g.put_path(dst, second=True))


def symlink(g, target, path):
    return g.call("path_symlink", *g.put_path(target), 3, *g.put_path(path, second=True))


def readlink(g, path, size=100):
    errno = g.call("path_readlink", 3, *g.put_path(path), 8192, size, RESULT_AT)
    return errno, (g.read(8192, g.u32(RESULT_AT)) if errno == 0 else None)


def test_hard_links(g, root):
    assert link(g, "f", "hard") == 0
    assert os.stat(root / "hard").st_ino == os.stat(root / "f").st_ino
    assert stat_path(g, "f")[1][3] == 2                          # nlink
    assert link(g, "f", "hard") == Errno.EXIST
    assert link(g, "lnf", "hard2") == 0 and (root / "hard2").is_symlink()   # the link itself
    assert link(g, "lnf", "hard3", FOLLOW) == Errno.INVAL          # as wasmtime
    assert link(g, "sub", "subhard") == Errno.PERM                 # no directory hard links


def test_symlinks(g, root):
    assert symlink(g, "f", "s") == 0 and os.readlink(root / "s") == "f"
    assert readlink(g, "s") == (0, b"f")
    assert readlink(g, "lnsub") == (0, b"sub")
    assert readlink(g, "dangling", size=3) == (0, b"mis")          # truncated
    assert readlink(g, "f")[0] == Errno.INVAL
    assert readlink(g, "nope")[0] == Errno.NOENT
    assert symlink(g, "f", "s") == Errno.EXIST
    assert symlink(g, "sub/inner", "sub/s2") == 0                  # relative to its directory
    assert g.open(3, "sub/s2")[0] == Errno.NOENT                   # sub/sub/inner
    assert symlink(g, "../f", "sub/s3") == 0
    errno, fd = g.open(3, "sub/s3")
    assert errno == 0 and g.read_fd(fd, 10) == (0, b"hello")


# ---- metadata -------------------------------------------------------------------

def test_path_filestat(g, root):
    errno, st = stat_path(g, "f")
    assert errno == 0 and (st[2], st[4]) == (Filetype.REGULAR_FILE, 5)
    assert st[6] == os.stat(root / "f").st_mtime_ns
    assert stat_path(g, "lnf")[1][2] == Filetype.SYMBOLIC_LINK
    assert stat_path(g, "lnf")[1][4] == 1                            # length of "f"
    assert stat_path(g, "lnf", FOLLOW)[1][2] == Filetype.REGULAR_FILE
    assert stat_path(g, "lnsub", FOLLOW)[1][2] == Filetype.DIRECTORY
    assert stat_path(g, "dangling", FOLLOW)[0] == Errno.NOENT
    assert stat_path(g, ".")[1][2] == Filetype.DIRECTORY
    assert stat_path(g, "sub/")[1][2] == Filetype.DIRECTORY
    assert stat_path(g, "f/")[0] == Errno.NOTDIR
    assert stat_path(g, "")[0] == Errno.NOENT


def test_path_set_times(g, root):
    def set_times(path, atim, mtim, fst, flags=0):
        return g.call("path_filestat_set_times", 3, flags, *g.put_path(path), atim, mtim, fst)

    assert set_times("f", 3 * 10**9, 4 * 10**9, Fstflags.ATIM | Fstflags.MTIM) == 0
    st = os.stat(root / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (3 * 10**9, 4 * 10**9)
    assert set_times("lnf", 0, 7 * 10**9, Fstflags.MTIM, FOLLOW) == 0
    assert os.stat(root / "f").st_mtime_ns == 7 * 10**9
    assert os.stat(root / "f").st_atime_ns == 3 * 10**9            # untouched
    assert set_times("lnf", 0, 9 * 10**9, Fstflags.MTIM) == 0       # the link itself
    assert os.lstat(root / "lnf").st_mtime_ns == 9 * 10**9
    assert os.stat(root / "f").st_mtime_ns == 7 * 10**9
    assert set_times("f", 0, 0, Fstflags.MTIM | Fstflags.MTIM_NOW) == Errno.INVAL


@pytest.mark.parametrize("new,expected", [
    ("new/", Errno.NOENT),          # a new name with a trailing slash names a directory: not made
    ("sub/", Errno.EXIST),
    ("f/", Errno.NOTDIR),
    ("sub/new/", Errno.NOENT),
])
def test_link_and_symlink_with_a_trailing_slash(g, root, new, expected):
    """As wasmtime (and Linux): the slash is not dropped to create `new`."""
    before = sorted(os.listdir(root)), sorted(os.listdir(root / "sub"))
    assert link(g, "f", new) == expected
    assert symlink(g, "f", new) == expected
    assert (sorted(os.listdir(root)), sorted(os.listdir(root / "sub"))) == before


def test_truncating_needs_a_right_that_allows_it(root):
    """path_open with TRUNC on a read-only descriptor (no FD_WRITE, no FD_FILESTAT_SET_SIZE)
    is refused and leaves the file alone.  (wasmtime truncates there: Linux does on
    O_RDONLY|O_TRUNC; we follow the rights the guest asked for.)"""
    from wasi.abi import Rights
    g = GuestFactory("wasirun")(preopens=[(str(root), "/root")])
    assert g.open(3, "f", Oflags.TRUNC, READ)[0] == Errno.NOTCAPABLE
    assert (root / "f").read_bytes() == b"hello"
    for rights in (READ_WRITE, Rights.FD_WRITE, Rights.FD_READ | Rights.FD_FILESTAT_SET_SIZE):
        (root / "f").write_bytes(b"hello")
        assert g.open(3, "f", Oflags.TRUNC, rights)[0] == 0
        assert (root / "f").read_bytes() == b""
