"""What a preopened directory lets the guest do: wasmtime's DirPerms / FilePerms.

A preopen carries two sets: ``DirPerms`` for the directory and every directory opened
beneath it (READ: look up, list, stat, read links; MUTATE: create, remove, rename, link,
set times), and ``FilePerms``, the most any file opened beneath it may do (READ; WRITE:
open for writing, truncate, set size or times).  Both are inherited by every descriptor
opened through the preopen, so a read-only preopen stays read-only all the way down.

A refused operation is ``PERM`` (wasmtime's ``not-permitted``), checked before the path is
resolved, as wasmtime does.  The rights ``fd_fdstat_get`` reports do not change: wasmtime
reports the same rights for a read-only preopen, and enforces the permissions instead.
"""
from __future__ import annotations

import enum

from .abi import Errno
from .errors import WasiError


class DirPerms(enum.IntFlag):
    READ = 1
    MUTATE = 2
    READ_WRITE = 3


class FilePerms(enum.IntFlag):
    READ = 1
    WRITE = 2
    READ_WRITE = 3


def perms_of(spec) -> tuple[DirPerms, FilePerms]:
    """(dir perms, file perms) from what an embedder gives for a preopen: nothing (read and
    write), a bool (wasmtime-py 50's ``fs_mutable``: False is READ and READ), or the pair."""
    if spec is None or spec is True:
        return DirPerms.READ_WRITE, FilePerms.READ_WRITE
    if spec is False:
        return DirPerms.READ, FilePerms.READ
    dir_perms, file_perms = spec
    return DirPerms(dir_perms), FilePerms(file_perms)


def require(have: enum.IntFlag, need: enum.IntFlag) -> None:
    """PERM unless every bit of ``need`` is in ``have``."""
    if need & ~have:
        raise WasiError(Errno.PERM)
