"""fd_* functions: stdio, file I/O, offsets, flags, attributes, descriptors, readdir.

Each test runs on wasirun's host and on wasmtime's, with the same expectations,
except where a comment says the behaviour differs on purpose.
"""
import os

import pytest

from wasi.abi import (DIRENT, FDSTAT, FILESTAT, PRESTAT, RIGHTS_ALL, Errno, Fdflags, Filetype,
                      Fstflags, Rights, Whence)
from wasi.fdtable import DIR_RIGHTS, PREOPEN_INHERITING, PREOPEN_RIGHTS
from .wasi_testing import READ_WRITE, GuestFactory

BUF = 16384


@pytest.fixture
def sandbox(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"hello world")
    (root / "sub").mkdir()
    return root


@pytest.fixture
def g(make, sandbox, tmp_path):
    (tmp_path / "stdin").write_bytes(b"line one\nline two\n")
    return make(preopens=[(str(sandbox), "/sandbox")], stdin=str(tmp_path / "stdin"),
                stdout=str(tmp_path / "stdout"), stderr=str(tmp_path / "stderr"))


def fdstat(g, fd):
    assert g.call("fd_fdstat_get", fd, 64) == 0
    return FDSTAT.unpack(g.read(64, FDSTAT.size))


def filestat(g, fd):
    assert g.call("fd_filestat_get", fd, 64) == 0
    return FILESTAT.unpack(g.read(64, FILESTAT.size))


# ---- stdio -------------------------------------------------------------------------

def test_stdout_and_stderr(g, tmp_path):
    assert g.write_fd(1, b"to stdout\n") == (0, 10)
    assert g.write_fd(2, b"to stderr\n") == (0, 10)
    assert g.write_fd(1, b"") == (0, 0)
    assert (tmp_path / "stdout").read_bytes() == b"to stdout\n"
    assert (tmp_path / "stderr").read_bytes() == b"to stderr\n"


def test_gathered_write(g, tmp_path):
    errno, n = g.write_fd(1, b"ab", b"", b"cde")
    # wasirun writes every buffer in one writev; wasmtime only the first non-empty one.
    assert errno == 0 and n == (5 if g.backend == "wasirun" else 2)
    assert (tmp_path / "stdout").read_bytes() == b"abcde"[:n]


def test_stdin_reads_to_eof(g):
    data = b""
    while True:
        errno, chunk = g.read_fd(0, 5)
        assert errno == 0
        if not chunk:
            break
        data += chunk
    assert data == b"line one\nline two\n"


def test_stdio_direction_and_seeking(g):
    assert g.write_fd(0)[0] == Errno.BADF
    assert g.read_fd(1, 4)[0] == Errno.BADF
    for fd in (0, 1, 2):
        assert g.seek(fd, 0, Whence.CUR)[0] == Errno.SPIPE
        assert g.call("fd_tell", fd, 64) == Errno.SPIPE
    assert g.read_fd(0, 4, offset=0)[0] == Errno.SPIPE
    assert g.write_fd(1, b"x", offset=0)[0] == Errno.SPIPE


def test_stdio_fdstat_and_filestat(g):
    # Not terminals here, so the type is UNKNOWN (CHARACTER_DEVICE for a tty).
    assert fdstat(g, 0) == (Filetype.UNKNOWN, 0, Rights.FD_READ, Rights.FD_READ)
    assert fdstat(g, 1) == (Filetype.UNKNOWN, 0, Rights.FD_WRITE, Rights.FD_WRITE)
    g.write(64, b"\xee" * 64)
    assert filestat(g, 2) == (0, 0, Filetype.UNKNOWN, 0, 0, 0, 0, 0)


def test_file_only_operations_refuse_stdio_and_dirs(g):
    for fd in (1, 3):
        assert g.call("fd_filestat_set_size", fd, 0) == Errno.BADF
        assert g.call("fd_fdstat_set_flags", fd, 0) == Errno.BADF
        assert g.call("fd_allocate", fd, 0, 1) == Errno.BADF
        assert g.call("fd_advise", fd, 0, 0, 0) == Errno.BADF
        assert g.call("fd_sync", fd) == Errno.BADF
        assert g.call("fd_datasync", fd) == Errno.BADF
    assert g.call("fd_fdstat_set_rights", 1, 0, 0) == Errno.BADF
    assert g.call("fd_filestat_set_times", 1, 0, 0, 0) == Errno.BADF


# ---- files ---------------------------------------------------------------------

def test_read_write_seek_tell(g, sandbox):
    errno, fd = g.open(3, "f", rights=READ_WRITE)
    assert errno == 0 and fd == 4
    assert g.read_fd(fd, 5) == (0, b"hello")
    assert g.call("fd_tell", fd, 64) == 0 and g.u64(64) == 5
    assert g.seek(fd, 6, Whence.SET) == (0, 6)
    assert g.read_fd(fd, 100) == (0, b"world")
    assert g.read_fd(fd, 100) == (0, b"")                    # EOF
    assert g.seek(fd, -5, Whence.CUR) == (0, 6)
    assert g.seek(fd, -1, Whence.END) == (0, 10)
    assert g.write_fd(fd, b"D!") == (0, 2)
    assert sandbox.joinpath("f").read_bytes() == b"hello worlD!"
    assert g.seek(fd, 20, Whence.SET) == (0, 20)             # past the end is fine
    assert g.write_fd(fd, b"x") == (0, 1)
    assert sandbox.joinpath("f").read_bytes() == b"hello worlD!" + bytes(8) + b"x"


def test_invalid_seeks(g):
    fd = g.open(3, "f")[1]
    assert g.seek(fd, -1, Whence.SET)[0] == Errno.INVAL
    assert g.seek(fd, -100, Whence.CUR)[0] == Errno.INVAL
    assert g.seek(fd, -100, Whence.END)[0] == Errno.INVAL
    assert g.seek(3, 0, Whence.SET)[0] == Errno.BADF          # a directory
    assert g.seek(99, 0, Whence.SET)[0] == Errno.BADF


def test_invalid_whence_is_inval(tmp_path):
    # wasirun-only: wasmtime traps on an invalid enum value.
    (tmp_path / "f").write_bytes(b"")
    g = GuestFactory("wasirun")(preopens=[(str(tmp_path), "/")])
    fd = g.open(3, "f")[1]
    assert g.seek(fd, 0, 3)[0] == Errno.INVAL
    assert g.call("fd_advise", fd, 0, 0, 6) == Errno.INVAL


def test_pread_pwrite_leave_the_offset(g, sandbox):
    fd = g.open(3, "f", rights=READ_WRITE)[1]
    assert g.read_fd(fd, 5, offset=6) == (0, b"world")
    assert g.write_fd(fd, b"HELLO", offset=0) == (0, 5)
    assert g.call("fd_tell", fd, 64) == 0 and g.u64(64) == 0
    assert sandbox.joinpath("f").read_bytes() == b"HELLO world"
    assert g.read_fd(fd, 100, offset=1000) == (0, b"")


def test_append(g, sandbox):
    fd = g.open(3, "f", rights=READ_WRITE, fdflags=Fdflags.APPEND)[1]
    assert fdstat(g, fd)[1] == Fdflags.APPEND
    assert g.write_fd(fd, b"+1") == (0, 2)
    assert g.call("fd_tell", fd, 64) == 0 and g.u64(64) == 13
    # Linux semantics: pwrite on an append-mode file appends; the offset is untouched.
    assert g.write_fd(fd, b"+2", offset=0) == (0, 2)
    assert g.call("fd_tell", fd, 64) == 0 and g.u64(64) == 13
    assert g.seek(fd, 0, Whence.SET) == (0, 0)
    assert g.write_fd(fd, b"+3") == (0, 2)                     # still appends
    assert sandbox.joinpath("f").read_bytes() == b"hello world+1+2+3"
    assert g.call("fd_fdstat_set_flags", fd, 0) == 0           # append off
    assert fdstat(g, fd)[1] == 0
    assert g.seek(fd, 0, Whence.SET) == (0, 0)
    assert g.write_fd(fd, b"H") == (0, 1)
    assert sandbox.joinpath("f").read_bytes() == b"Hello world+1+2+3"
    assert g.call("fd_fdstat_set_flags", fd, Fdflags.APPEND | Fdflags.NONBLOCK) == 0
    assert fdstat(g, fd)[1] == Fdflags.APPEND | Fdflags.NONBLOCK
    assert g.call("fd_fdstat_set_flags", fd, Fdflags.SYNC) == Errno.INVAL
    assert g.call("fd_fdstat_set_flags", fd, Fdflags.DSYNC) == Errno.INVAL


def test_truncate_and_extend(g, sandbox):
    fd = g.open(3, "f", rights=READ_WRITE)[1]
    assert g.call("fd_filestat_set_size", fd, 5) == 0
    assert sandbox.joinpath("f").read_bytes() == b"hello"
    assert g.call("fd_filestat_set_size", fd, 8) == 0
    assert sandbox.joinpath("f").read_bytes() == b"hello\0\0\0"
    assert filestat(g, fd)[4] == 8


def test_access_mode_follows_rights(g, sandbox):
    ro = g.open(3, "f", rights=Rights.FD_READ)[1]
    wo = g.open(3, "f", rights=Rights.FD_WRITE)[1]
    none = g.open(3, "f", rights=0)[1]                          # no rights: read-only
    assert g.write_fd(ro, b"x")[0] == Errno.BADF
    assert g.write_fd(ro, b"x", offset=0)[0] == Errno.BADF
    assert g.read_fd(wo, 1)[0] == Errno.BADF
    assert g.read_fd(wo, 1, offset=0)[0] == Errno.BADF
    assert g.write_fd(none, b"x")[0] == Errno.BADF
    assert g.read_fd(none, 5) == (0, b"hello")
    assert g.write_fd(wo, b"J") == (0, 1)
    assert sandbox.joinpath("f").read_bytes() == b"Jello world"
    assert fdstat(g, ro) == (Filetype.REGULAR_FILE, 0, RIGHTS_ALL & ~Rights.FD_WRITE,
                             RIGHTS_ALL & ~Rights.FD_WRITE)
    assert fdstat(g, wo)[2] == RIGHTS_ALL & ~(Rights.FD_READ | Rights.FD_READDIR)
    rw = g.open(3, "f", rights=READ_WRITE)[1]
    assert fdstat(g, rw)[2] == RIGHTS_ALL


def test_file_filestat(g, sandbox):
    fd = g.open(3, "f")[1]
    dev, ino, ftype, nlink, size, atim, mtim, ctim = filestat(g, fd)
    st = os.stat(sandbox / "f")
    assert (ftype, nlink, size) == (Filetype.REGULAR_FILE, 1, 11)
    assert (atim, mtim) == (st.st_atime_ns, st.st_mtime_ns)
    if g.backend == "wasirun":
        # Deliberate differences: host dev/ino as they are (wasmtime: dev 1, ino a hash),
        # and ctim is the status-change time (wasmtime reports the birth time).
        assert (dev, ino, ctim) == (st.st_dev, st.st_ino, st.st_ctime_ns)


def test_set_times(g, sandbox):
    fd = g.open(3, "f", rights=READ_WRITE)[1]
    assert g.call("fd_filestat_set_times", fd, 10**9, 2 * 10**9, Fstflags.ATIM | Fstflags.MTIM) == 0
    st = os.stat(sandbox / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**9, 2 * 10**9)
    assert g.call("fd_filestat_set_times", fd, 0, 5 * 10**9, Fstflags.MTIM) == 0   # atime kept
    st = os.stat(sandbox / "f")
    assert (st.st_atime_ns, st.st_mtime_ns) == (10**9, 5 * 10**9)
    assert g.call("fd_filestat_set_times", fd, 0, 0, Fstflags.MTIM_NOW) == 0
    assert os.stat(sandbox / "f").st_mtime_ns > 5 * 10**9
    assert g.call("fd_filestat_set_times", fd, 1, 1, Fstflags.ATIM | Fstflags.ATIM_NOW) == Errno.INVAL
    assert g.call("fd_filestat_set_times", 3, 7 * 10**9, 0, Fstflags.ATIM) == 0   # dirs too


def test_sync_advise_allocate_rights(g):
    fd = g.open(3, "f", rights=READ_WRITE)[1]
    assert g.call("fd_sync", fd) == 0
    assert g.call("fd_datasync", fd) == 0
    assert g.call("fd_advise", fd, 0, 100, 2) == 0
    assert g.call("fd_allocate", fd, 0, 100) == Errno.NOTSUP
    assert g.call("fd_fdstat_set_rights", fd, 0, 0) == Errno.NOTSUP
    assert g.call("fd_fdstat_set_rights", 3, 0, 0) == Errno.NOTSUP
    assert g.call("fd_fdstat_set_rights", 99, 0, 0) == Errno.BADF


# ---- preopens and descriptors --------------------------------------------------

def test_preopens(make, sandbox, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    g = make(preopens=[(str(sandbox), "/sandbox"), (str(other), ".")])
    assert g.call("fd_prestat_get", 3, 64) == 0
    assert PRESTAT.unpack(g.read(64, 8)) == (0, len("/sandbox"))
    assert g.call("fd_prestat_get", 4, 64) == 0 and PRESTAT.unpack(g.read(64, 8)) == (0, 1)
    assert g.call("fd_prestat_dir_name", 3, 100, 8) == 0 and g.read(100, 8) == b"/sandbox"
    assert g.call("fd_prestat_dir_name", 3, 100, 7) == Errno.NAMETOOLONG
    assert g.call("fd_prestat_get", 5, 64) == Errno.BADF              # the end of the list
    assert g.call("fd_prestat_get", 1, 64) == Errno.BADF
    assert g.call("fd_prestat_dir_name", 1, 100, 8) == Errno.NOTDIR
    assert g.call("fd_prestat_dir_name", 5, 100, 8) == Errno.BADF
    assert fdstat(g, 3) == (Filetype.DIRECTORY, 0, PREOPEN_RIGHTS, PREOPEN_INHERITING)
    assert filestat(g, 3)[2] == Filetype.DIRECTORY
    fd = g.open(3, "sub")[1]
    assert g.call("fd_prestat_get", fd, 64) == Errno.BADF
    assert fdstat(g, fd) == (Filetype.DIRECTORY, 0, DIR_RIGHTS, DIR_RIGHTS)


def test_close_and_fd_numbering(g):
    fds = [g.open(3, "f")[1] for _ in range(3)]
    assert fds == [4, 5, 6]
    assert g.call("fd_close", 4) == 0 and g.call("fd_close", 5) == 0
    assert g.call("fd_close", 5) == Errno.BADF
    # Like wasmtime: freed numbers are reused, highest first, then new ones.
    assert [g.open(3, "f")[1] for _ in range(3)] == [5, 4, 7]
    assert g.call("fd_close", 3) == 0                           # preopens can be closed
    assert g.call("fd_prestat_get", 3, 64) == Errno.BADF


def test_renumber(g):
    a = g.open(3, "f")[1]
    b = g.open(3, "f")[1]
    assert g.read_fd(a, 6) == (0, b"hello ")
    assert g.call("fd_renumber", a, b) == 0
    assert g.read_fd(b, 5) == (0, b"world")                    # b is now a's file
    assert g.call("fd_close", a) == Errno.BADF
    assert g.call("fd_renumber", b, 99) == Errno.BADF           # the target must be open
    assert g.call("fd_renumber", 99, b) == Errno.BADF
    assert g.call("fd_renumber", b, b) == 0


def test_closing_stdout(g):
    assert g.call("fd_close", 1) == 0
    assert g.write_fd(1, b"x")[0] == Errno.BADF
    assert g.open(3, "f")[1] == 1                               # the number is reused


# ---- readdir -----------------------------------------------------------------

def parse_dirents(data):
    """The complete entries in a readdir buffer (a truncated last one is left out)."""
    entries, pos = [], 0
    while pos + DIRENT.size <= len(data):
        d_next, ino, namlen, kind = DIRENT.unpack_from(data, pos)
        end = pos + DIRENT.size + namlen
        if end > len(data):
            break
        entries.append((d_next, data[pos + DIRENT.size:end], kind, ino))
        pos = end
    return entries


def readdir(g, fd, cookie=0, size=BUF):
    assert g.call("fd_readdir", fd, 8192, size, cookie, 64) == 0
    return g.read(8192, g.u32(64))


@pytest.fixture
def listing(sandbox):
    os.symlink("f", sandbox / "link")
    (sandbox / "sub" / "inner").write_bytes(b"")
    return {b".": Filetype.DIRECTORY, b"..": Filetype.DIRECTORY, b"f": Filetype.REGULAR_FILE,
            b"sub": Filetype.DIRECTORY, b"link": Filetype.SYMBOLIC_LINK}


def test_readdir_lists_dot_entries_first_with_cookies(g, listing, sandbox):
    entries = parse_dirents(readdir(g, 3))
    assert [e[1] for e in entries[:2]] == [b".", b".."]
    assert {e[1]: e[2] for e in entries} == listing
    assert [e[0] for e in entries] == list(range(1, len(listing) + 1))    # d_next
    if g.backend == "wasirun":
        assert {e[1]: e[3] for e in entries}[b"f"] == os.stat(sandbox / "f").st_ino


def test_readdir_resumes_at_each_cookie(g, listing):
    full = parse_dirents(readdir(g, 3))
    for i, entry in enumerate(full):
        assert parse_dirents(readdir(g, 3, cookie=entry[0])) == full[i + 1:]
    assert readdir(g, 3, cookie=2**64 - 1) == b""


def test_readdir_fills_and_truncates_the_buffer(g, listing):
    full = readdir(g, 3)
    for size in (1, 23, 24, 25, 30, len(full) - 1):
        assert g.call("fd_readdir", 3, 8192, size, 0, 64) == 0
        assert g.u32(64) == size                                # full buffer: more to come
        assert g.read(8192, size) == full[:size]
    assert g.call("fd_readdir", 3, 8192, len(full) + 1, 0, 64) == 0
    assert g.u32(64) == len(full)                               # short: the end


def test_readdir_of_many_entries_like_libc(g, sandbox):
    names = {f"entry-{i:04d}".encode() for i in range(300)}
    for name in names:
        (sandbox / "sub" / name.decode()).write_bytes(b"")
    fd = g.open(3, "sub")[1]
    seen, cookie = [], 0
    while True:                       # wasi-libc's loop: fill a buffer, resume after it
        data = readdir(g, fd, cookie, size=1000)
        entries = parse_dirents(data)
        seen += [e[1] for e in entries]
        if len(data) < 1000:
            break
        cookie = entries[-1][0]
    assert sorted(seen) == sorted(names | {b".", b".."})


def test_readdir_on_a_file(g):
    fd = g.open(3, "f")[1]
    assert g.call("fd_readdir", fd, 8192, 100, 0, 64) == Errno.BADF
    assert g.call("fd_readdir", 1, 8192, 100, 0, 64) == Errno.BADF


def test_readdir_lists_the_directory_once_per_pass(sandbox, monkeypatch):
    """wasi-libc's loop over 300 entries in 1000-byte buffers makes ~12 calls: the
    directory is listed at the start of the pass (cookie 0), the other calls read that
    listing; a new pass lists again and sees a new entry."""
    import wasi.fd
    listed = []
    real = wasi.fd._dir_entries
    monkeypatch.setattr(wasi.fd, "_dir_entries", lambda fd: listed.append(fd) or real(fd))
    for i in range(300):
        (sandbox / "sub" / f"entry-{i:04d}").write_bytes(b"")
    g = GuestFactory("wasirun")(preopens=[(str(sandbox), "/sandbox")])
    fd = g.open(3, "sub")[1]

    def whole_pass():
        seen, cookie, calls = [], 0, 0
        while True:
            data = readdir(g, fd, cookie, size=1000)
            calls += 1
            entries = parse_dirents(data)
            seen += [e[1] for e in entries]
            if len(data) < 1000:
                return seen, calls
            cookie = entries[-1][0]

    seen, calls = whole_pass()
    assert len(seen) == 302 and calls > 10
    assert len(listed) == 1
    (sandbox / "sub" / "late").write_bytes(b"")
    seen, _ = whole_pass()
    assert b"late" in seen and len(listed) == 2
