"""Read-only preopens (DirPerms.READ + FilePerms.READ): every way to change the tree is
refused with PERM, on the preopen and on everything opened beneath it, and reading still
works.  The same expectations run on wasmtime's WASI (wasmtime-py's ``fs_mutable=False``)."""
import os

import pytest

from wasi.abi import Errno, Fdflags, Oflags, Rights
from wasi.perms import DirPerms, FilePerms, perms_of
from .wasi_testing import READ, READ_WRITE, RESULT_AT

PERM, OK = Errno.PERM, Errno.SUCCESS
RO = (DirPerms.READ, FilePerms.READ)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    (r / "sub").mkdir(parents=True)
    (r / "f").write_bytes(b"hello")
    os.symlink("f", r / "lnf")
    return r


def tree(root):
    return sorted((str(p.relative_to(root)), p.is_symlink() or p.read_bytes() if p.is_file() else None)
                  for p in root.rglob("*"))


@pytest.fixture
def g(make, root):
    before = tree(root)
    guest = make(preopens=[(str(root), "/r", *RO)])
    yield guest
    assert tree(root) == before, "a read-only preopen was changed"


@pytest.mark.parametrize("oflags,rights,fdflags", [
    (0, READ_WRITE, 0), (0, Rights.FD_WRITE, 0), (Oflags.CREAT, READ_WRITE, 0),
    (Oflags.CREAT, READ, 0), (Oflags.TRUNC, READ, 0), (Oflags.CREAT | Oflags.EXCL, READ, 0)])
def test_opening_to_change_is_refused(g, oflags, rights, fdflags):
    for name in ("f", "new"):
        assert g.open(3, name, oflags, rights, fdflags)[0] == PERM


def test_reading_works(g):
    e, fd = g.open(3, "f", 0, READ, Fdflags.APPEND)   # APPEND without write rights is no write
    assert e == OK
    assert g.read_fd(fd, 5) == (OK, b"hello")
    assert g.call("path_filestat_get", 3, 0, *g.put_path("f"), 8192) == OK
    assert g.call("path_readlink", 3, *g.put_path("lnf"), 8192, 64, RESULT_AT) == OK
    assert g.call("fd_readdir", 3, 8192, 256, 0, RESULT_AT) == OK


def test_read_only_file_cannot_change(g):
    _, fd = g.open(3, "f", 0, READ)
    assert g.write_fd(fd, b"x")[0] == Errno.BADF
    assert g.call("fd_filestat_set_size", fd, 1) == PERM
    assert g.call("fd_filestat_set_times", fd, 0, 0, 2) == PERM


@pytest.mark.parametrize("call", ["path_create_directory", "path_remove_directory", "path_unlink_file"])
def test_directory_changes_are_refused(g, call):
    for name in ("sub", "f", "missing"):
        assert g.path_call(call, 3, name) == PERM


def test_two_path_changes_are_refused(g):
    a, b = g.put_path("f"), g.put_path("g", second=True)
    assert g.call("path_rename", 3, *a, 3, *b) == PERM
    assert g.call("path_link", 3, 0, *a, 3, *b) == PERM
    assert g.call("path_symlink", *a, 3, *b) == PERM
    assert g.call("path_filestat_set_times", 3, 0, *a, 0, 0, 2) == PERM
    assert g.call("fd_filestat_set_times", 3, 0, 0, 2) == PERM


def test_directories_opened_beneath_inherit(g):
    e, sub = g.open(3, "sub", Oflags.DIRECTORY, READ)
    assert e == OK
    assert g.open(sub, "x", Oflags.CREAT, READ_WRITE)[0] == PERM
    assert g.path_call("path_create_directory", sub, "d") == PERM
    assert g.call("fd_readdir", sub, 8192, 256, 0, RESULT_AT) == OK


def test_rights_reported_as_for_a_writable_preopen(make, root):
    """wasmtime reports the same rights either way and enforces the perms instead."""
    rw, ro = make(preopens=[(str(root), "/r")]), make(preopens=[(str(root), "/r", *RO)])
    for guest in (rw, ro):
        assert guest.call("fd_fdstat_get", 3, RESULT_AT) == OK
    assert rw.read(RESULT_AT, 24) == ro.read(RESULT_AT, 24)


def test_writable_preopen_still_writes(make, root):
    guest = make(preopens=[(str(root), "/r")])
    e, fd = guest.open(3, "new", Oflags.CREAT, READ_WRITE)
    assert e == OK and guest.write_fd(fd, b"abc") == (OK, 3)
    assert (root / "new").read_bytes() == b"abc"


def test_read_only_files_in_a_mutable_directory(root):
    """DirPerms.READ_WRITE with FilePerms.READ (wasirun only: wasmtime-py has one bool):
    names may change, file contents may not."""
    from .wasi_testing import HostGuest
    from wasi.ctx import WasiConfig
    g = HostGuest(WasiConfig(preopens=[(str(root), "/r", DirPerms.READ_WRITE, FilePerms.READ)]))
    try:
        assert g.open(3, "f", 0, READ_WRITE)[0] == PERM
        assert g.open(3, "new", Oflags.CREAT, READ)[0] == PERM
        assert g.path_call("path_create_directory", 3, "d") == OK
        assert g.path_call("path_unlink_file", 3, "lnf") == OK
    finally:
        g.close()


def test_perms_of():
    assert perms_of(None) == perms_of(True) == (DirPerms.READ_WRITE, FilePerms.READ_WRITE)
    assert perms_of(False) == RO
    assert perms_of((1, 3)) == (DirPerms.READ, FilePerms.READ_WRITE)
