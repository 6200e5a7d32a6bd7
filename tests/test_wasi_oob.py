"""Out-of-bounds guest pointers: every function returns FAULT, raises nothing,
and has no side effect (WAVM's *_oob tests, for all of preview1).

wasmirun-only: wasmtime traps on a bad pointer instead of returning FAULT.
"""
import os

import pytest

from wasi import WASI_FUNCTIONS
from wasi.abi import IOVEC, SUBSCRIPTION, SUBSCRIPTION_CLOCK, Errno
from .wasi_testing import PAGE, GuestFactory

MEM = 2 * PAGE
BAD = MEM - 2                 # straddles the end of memory
FAR = 2**32 - 8               # far beyond it
IOV_BAD_BUF = 256             # an iovec whose buffer is out of bounds
IOV_OK = 272                  # an iovec with a valid 16-byte buffer at 8192
SUBS = 4096                   # one valid clock subscription
PATH_F, PATH_L, PATH_NEW = 1024, 1100, 1200   # "f", "l" (a symlink), "new"


@pytest.fixture
def guest(tmp_path):
    (tmp_path / "f").write_bytes(b"content")
    os.symlink("f", tmp_path / "l")
    factory = GuestFactory("wasirun")
    g = factory(args=["prog", "arg"], env=[("K", "V")], preopens=[(str(tmp_path), "/s")],
                stdout=str(tmp_path / "stdout"))
    g.write(IOV_BAD_BUF, IOVEC.pack(BAD, 16))
    g.write(IOV_OK, IOVEC.pack(8192, 16))
    g.write(SUBS, SUBSCRIPTION.pack(1, 0, SUBSCRIPTION_CLOCK.pack(1, 0, 0, 0)))
    for ptr, text in ((PATH_F, b"f"), (PATH_L, b"l"), (PATH_NEW, b"new")):
        g.write(ptr, text)
    assert g.open(3, "f", rights=0x3FFFFFFF)[1] == 4
    yield g
    factory.close()


CASES = [
    ("args_get", BAD, 0), ("args_get", 0, BAD),
    ("args_sizes_get", FAR, 0), ("args_sizes_get", 0, FAR),
    ("environ_get", BAD, 0), ("environ_get", 0, BAD),
    ("environ_sizes_get", FAR, 0), ("environ_sizes_get", 0, FAR),
    ("clock_res_get", 1, BAD), ("clock_time_get", 0, 0, BAD),
    ("fd_fdstat_get", 4, BAD), ("fd_filestat_get", 4, FAR), ("fd_filestat_get", 1, BAD),
    ("fd_prestat_get", 3, BAD), ("fd_prestat_dir_name", 3, BAD, 10),
    ("fd_read", 4, BAD, 1, 64), ("fd_read", 4, IOV_BAD_BUF, 1, 64), ("fd_read", 4, IOV_OK, 1, BAD),
    ("fd_pread", 4, FAR, 1, 0, 64), ("fd_pread", 4, IOV_BAD_BUF, 1, 0, 64),
    ("fd_pread", 4, IOV_OK, 1, 0, BAD),
    ("fd_write", 4, BAD, 1, 64), ("fd_write", 1, IOV_BAD_BUF, 1, 64), ("fd_write", 1, IOV_OK, 1, BAD),
    ("fd_pwrite", 4, FAR, 1, 0, 64), ("fd_pwrite", 4, IOV_BAD_BUF, 1, 0, 64),
    ("fd_pwrite", 4, IOV_OK, 1, 0, BAD),
    ("fd_readdir", 3, BAD, 100, 0, 64), ("fd_readdir", 3, 8192, 100, 0, BAD),
    ("fd_seek", 4, 0, 0, BAD), ("fd_tell", 4, FAR),
    ("path_create_directory", 3, BAD, 3), ("path_filestat_get", 3, 0, FAR, 1, 64),
    ("path_filestat_get", 3, 0, PATH_F, 1, BAD), ("path_filestat_set_times", 3, 0, BAD, 5, 0, 0, 0),
    ("path_link", 3, 0, BAD, 3, 3, PATH_NEW, 3), ("path_link", 3, 0, PATH_F, 1, 3, BAD, 3),
    ("path_open", 3, 0, BAD, 3, 1, 0x3FFFFFFF, 0, 0, 64),
    ("path_open", 3, 0, PATH_NEW, 3, 1, 0x3FFFFFFF, 0, 0, BAD),
    ("path_readlink", 3, BAD, 3, 8192, 10, 64), ("path_readlink", 3, PATH_L, 1, BAD, 10, 64),
    ("path_readlink", 3, PATH_L, 1, 8192, 10, FAR),
    ("path_remove_directory", 3, FAR, 3), ("path_rename", 3, BAD, 3, 3, PATH_NEW, 3),
    ("path_rename", 3, PATH_F, 1, 3, BAD, 3), ("path_symlink", BAD, 3, 3, PATH_NEW, 3),
    ("path_symlink", PATH_F, 1, 3, BAD, 3), ("path_unlink_file", 3, BAD, 3),
    ("poll_oneoff", BAD, 8192, 1, 64), ("poll_oneoff", SUBS, BAD, 1, 64),
    ("poll_oneoff", SUBS, 8192, 1, BAD), ("poll_oneoff", SUBS, 8192, 2**20, 64),
    ("random_get", BAD, 16), ("random_get", FAR, 1),
]


def test_every_function_with_a_pointer_is_covered():
    pointer_funcs = {"args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
                     "clock_res_get", "clock_time_get", "poll_oneoff", "random_get"}
    pointer_funcs |= {n for n in WASI_FUNCTIONS if n.startswith(("fd_", "path_"))} - {
        "fd_advise", "fd_allocate", "fd_close", "fd_datasync", "fd_fdstat_set_flags",
        "fd_fdstat_set_rights", "fd_filestat_set_size", "fd_filestat_set_times",
        "fd_renumber", "fd_sync"}
    assert pointer_funcs == {name for name, *_ in CASES}


@pytest.mark.parametrize("name,args", [(c[0], c[1:]) for c in CASES],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_out_of_bounds_pointer_returns_fault(guest, tmp_path, name, args):
    before = sorted(os.listdir(tmp_path))
    assert guest.call(name, *args) == Errno.FAULT
    assert sorted(os.listdir(tmp_path)) == before          # nothing created or removed
    assert (tmp_path / "stdout").read_bytes() == b""       # nothing written
    assert guest.call("fd_tell", 4, 64) == 0 and guest.u64(64) == 0   # nothing consumed
    assert max(fd for fd, _ in guest.ctx.fds.items()) == 4             # no fd leaked
