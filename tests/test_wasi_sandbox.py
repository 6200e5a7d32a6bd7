"""Escapes from a preopened directory: every path function, every trick, both hosts.

Each test snapshots everything outside the preopen and checks it is untouched.
The last tests (wasirun-only) replay time-of-check/time-of-use races by swapping
directories and files for symlinks in the middle of a resolution.
"""
import os
from pathlib import Path

import pytest

from wasi import sandbox
from wasi.abi import Errno, Lookupflags, Oflags
from wasi.errors import WasiError
from .wasi_testing import READ_WRITE, RESULT_AT, GuestFactory

FOLLOW = Lookupflags.SYMLINK_FOLLOW
PERM = Errno.PERM


@pytest.fixture
def tree(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (outside / "dir").mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "f").write_bytes(b"inside")
    (root / "sub").mkdir()
    os.symlink("../outside", root / "lnout")           # relative, out
    os.symlink(str(outside), root / "lnabs")           # absolute, out
    os.symlink("..", root / "lnup")                    # the preopen's parent
    os.symlink("../..", root / "sub" / "lnup2")        # out from one level down
    os.symlink("sub/lnup2", root / "chain")            # a chain that ends out
    os.symlink("../sub", root / "sub" / "lnok")        # stays inside
    return tmp_path


def snapshot(top: Path) -> dict:
    """Everything under ``top`` except the preopen: type, content, link target, mtime."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == top / "root":
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p == top / "root":
                continue                  # the preopen's own mtime changes with its content
            st = os.lstat(p)
            data = os.readlink(p) if p.is_symlink() else p.read_bytes() if p.is_file() else None
            state[str(p.relative_to(top))] = (st.st_mode, st.st_mtime_ns, data)
    return state


@pytest.fixture
def g(make, tree):
    before = snapshot(tree)
    guest = make(preopens=[(str(tree / "root"), "/sandbox")])
    yield guest
    assert snapshot(tree) == before, "something outside the preopen changed"


# Paths that leave the preopen on the way (through "..", "/", or a symlink in an
# intermediate component).  All functions must refuse them with PERM.
ESCAPING = [
    "..",
    "../outside",
    "../outside/secret.txt",
    "../outside/new",
    "../root/f",                      # out and back in still went out
    "sub/../../outside/secret.txt",
    "sub/../..",
    "./sub/./../../outside/dir",
    "/etc/passwd",
    "/",
    "lnout/secret.txt",
    "lnout/new",
    "lnout/dir",
    "lnabs/secret.txt",
    "lnup/outside/secret.txt",
    "lnup/root/f",
    "sub/lnup2/outside/secret.txt",
    "chain/outside/new",
    "sub/lnok/../../outside/secret.txt",
]
ABSOLUTE_OUTSIDE = "{tree}/outside/secret.txt"

# Final-component symlinks that point out: refused when followed, fine otherwise.
FINAL_LINKS = ["lnout", "lnabs", "lnup", "sub/lnup2", "chain"]


def open_(g, path, **kw):
    return g.open(3, path, **kw)[0]


def two_paths(g, name, a, b, flags=None):
    first, second = g.put_path(a), g.put_path(b, second=True)
    if name == "path_link":
        return g.call(name, 3, 0, *first, 3, *second)
    return g.call(name, 3, *first, 3, *second)


OPS = {
    "open": lambda g, p: open_(g, p),
    "open-nofollow": lambda g, p: open_(g, p, dirflags=0),
    "open-dir": lambda g, p: open_(g, p, oflags=Oflags.DIRECTORY),
    "create": lambda g, p: open_(g, p, oflags=Oflags.CREAT | Oflags.TRUNC, rights=READ_WRITE),
    "create-excl": lambda g, p: open_(g, p, oflags=Oflags.CREAT | Oflags.EXCL, rights=READ_WRITE),
    "mkdir": lambda g, p: g.path_call("path_create_directory", 3, p),
    "rmdir": lambda g, p: g.path_call("path_remove_directory", 3, p),
    "unlink": lambda g, p: g.path_call("path_unlink_file", 3, p),
    "stat": lambda g, p: g.call("path_filestat_get", 3, FOLLOW, *g.put_path(p), 512),
    "lstat": lambda g, p: g.call("path_filestat_get", 3, 0, *g.put_path(p), 512),
    "set_times": lambda g, p: g.call("path_filestat_set_times", 3, FOLLOW, *g.put_path(p), 0, 0, 2),
    "readlink": lambda g, p: g.call("path_readlink", 3, *g.put_path(p), 8192, 100, RESULT_AT),
    "rename-from": lambda g, p: two_paths(g, "path_rename", p, "moved"),
    "rename-to": lambda g, p: two_paths(g, "path_rename", "f", p),
    "link-from": lambda g, p: two_paths(g, "path_link", p, "hard"),
    "link-to": lambda g, p: two_paths(g, "path_link", "f", p),
    "symlink-at": lambda g, p: g.call("path_symlink", *g.put_path("f"), 3, *g.put_path(p, second=True)),
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_escaping_paths_are_refused(g, tree, op):
    for path in ESCAPING + [ABSOLUTE_OUTSIDE.format(tree=tree)]:
        assert OPS[op](g, path) == PERM, (op, path)


@pytest.mark.parametrize("op", ["open", "open-dir", "stat", "set_times"])
def test_following_a_final_link_out_is_refused(g, op):
    for path in FINAL_LINKS:
        assert OPS[op](g, path) == PERM, (op, path)


def test_final_links_out_can_be_handled_as_links(g, tree):
    root = tree / "root"
    assert OPS["lstat"](g, "lnout") == 0
    assert OPS["readlink"](g, "lnout") == 0 and g.read(8192, g.u32(RESULT_AT)) == b"../outside"
    assert OPS["readlink"](g, "lnabs") == PERM                  # would show a host path
    assert OPS["open-nofollow"](g, "lnout") == Errno.LOOP
    assert two_paths(g, "path_rename", "lnout", "lnout2") == 0
    assert os.readlink(root / "lnout2") == "../outside"
    assert OPS["unlink"](g, "lnout2") == 0                      # removes the link only
    assert OPS["unlink"](g, "lnabs") == 0
    assert not (root / "lnabs").exists() and (tree / "outside" / "secret.txt").exists()


def test_guest_made_symlinks_cannot_be_used_to_escape(g, tree):
    target, link = g.put_path("../outside"), g.put_path("mine", second=True)
    assert g.call("path_symlink", *target, 3, *link) == 0        # creating one is allowed...
    for op in ("open", "create", "mkdir", "unlink", "stat", "rename-to", "link-to"):
        assert OPS[op](g, "mine/secret.txt") == PERM, op         # ...using it is not
    assert OPS["open"](g, "mine") == PERM
    # Links to ".." one level down, built by the guest step by step.
    assert g.path_call("path_create_directory", 3, "a") == 0
    assert g.call("path_symlink", *g.put_path(".."), 3, *g.put_path("a/up", second=True)) == 0
    assert OPS["open"](g, "a/up/f") == 0                          # back at the root: fine
    assert OPS["open"](g, "a/up/a/up/f") == 0
    assert OPS["open"](g, "a/up/../outside/secret.txt") == PERM
    assert OPS["create"](g, "a/up/a/up/../escaped") == PERM


def test_absolute_symlink_targets_cannot_be_created(g, tree):
    for target in ("/etc/passwd", str(tree / "outside")):
        assert g.call("path_symlink", *g.put_path(target), 3, *g.put_path("abs", second=True)) == PERM
    assert not (tree / "root" / "abs").exists()


def test_dot_dot_that_stays_inside_is_fine(g):
    for path in ("sub/..", "sub/../f", "sub/lnok/../f", "sub/lnok/lnok/../f"):
        assert OPS["open"](g, path) == 0, path
    assert OPS["stat"](g, "sub/lnok") == 0


def test_each_preopen_is_its_own_sandbox(make, tree):
    before = snapshot(tree)
    (tree / "root" / "sub" / "x").write_bytes(b"")
    g = make(preopens=[(str(tree / "root"), "/a"), (str(tree / "root" / "sub"), "/b")])
    assert g.open(4, "x")[0] == 0
    assert g.open(4, "../f")[0] == PERM                          # parent is the other preopen
    assert g.open(3, "sub/x")[0] == 0
    del before


# ---- races (wasirun-only): the resolution must hold while the tree changes -------

def test_directory_swapped_for_a_symlink_mid_walk(tree, monkeypatch):
    root = tree / "root"
    before = snapshot(tree)
    g = GuestFactory("wasirun")(preopens=[(str(root), "/")])
    real_open = os.open

    def racing_open(path, flags, mode=0o777, *, dir_fd=None):
        # Just before "sub" is entered, an attacker replaces it with a link out.
        if path == "sub" and flags & os.O_PATH and not (root / "sub").is_symlink():
            os.rename(root / "sub", root / "sub.real")
            os.symlink(str(tree / "outside"), root / "sub")
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", racing_open)
    assert g.open(3, "sub/secret.txt", oflags=Oflags.TRUNC, rights=READ_WRITE)[0] == PERM
    monkeypatch.undo()
    assert (root / "sub").is_symlink()                # the race did happen
    assert snapshot(tree) == before


def test_file_swapped_for_a_symlink_after_the_check(tree, monkeypatch):
    root = tree / "root"
    before = snapshot(tree)
    g = GuestFactory("wasirun")(preopens=[(str(root), "/")])
    real_readlink = sandbox._readlink

    def racing_readlink(dir_fd, name):
        result = real_readlink(dir_fd, name)         # "f" is a plain file now...
        if name == "f":
            os.unlink(root / "f")                     # ...and a link out right after
            os.symlink(str(tree / "outside" / "secret.txt"), root / "f")
        return result

    monkeypatch.setattr(sandbox, "_readlink", racing_readlink)
    assert g.open(3, "f", oflags=Oflags.TRUNC, rights=READ_WRITE)[0] == Errno.LOOP
    assert (root / "f").is_symlink()                  # the race did happen
    assert (tree / "outside" / "secret.txt").read_bytes() == b"secret"
    assert snapshot(tree) == before


# ---- resolve() itself ------------------------------------------------------------

@pytest.fixture
def base(tree):
    fd = os.open(tree / "root", os.O_RDONLY | os.O_DIRECTORY)
    yield fd
    os.close(fd)


def resolved(base, path, follow=False):
    with sandbox.resolve(base, path, follow=follow) as where:
        return os.path.realpath(f"/proc/self/fd/{where.dir_fd}"), where.name


def test_resolve_results(base, tree):
    root = str((tree / "root").resolve())
    assert resolved(base, "f") == (root, "f")
    assert resolved(base, "sub/x") == (root + "/sub", "x")
    assert resolved(base, ".") == (root, ".")
    assert resolved(base, "sub/..") == (root, ".")
    assert resolved(base, "sub/lnok/") == (root, "sub")          # trailing slash follows
    assert resolved(base, "sub/lnok") == (root + "/sub", "lnok")
    assert resolved(base, "sub/lnok", follow=True) == (root, "sub")
    assert resolved(base, "lnout") == (root, "lnout")


@pytest.mark.parametrize("path,errno", [
    ("", Errno.NOENT), ("a\0b", Errno.INVAL), ("/x", PERM), ("..", PERM), ("lnout/x", PERM),
    ("f/", Errno.NOTDIR), ("f/x", Errno.NOTDIR),
])
def test_resolve_errors(base, path, errno):
    with pytest.raises((WasiError, OSError)) as info:
        resolved(base, path)
    got = info.value.errno if isinstance(info.value, WasiError) else \
        {20: Errno.NOTDIR}.get(info.value.errno)
    assert got == errno


def test_resolve_closes_what_it_opens(base):
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        resolved(base, "sub/lnok/lnok/x")
        with pytest.raises(WasiError):
            resolved(base, "sub/lnok/../../..")
    assert len(os.listdir("/proc/self/fd")) == fds


def test_symlink_loops_are_bounded(base, tree):
    os.symlink("loop", tree / "root" / "loop")
    with pytest.raises(WasiError) as info:
        resolved(base, "loop/x")
    assert info.value.errno == Errno.LOOP
