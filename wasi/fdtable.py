"""The guest's file descriptors: stdio streams, files and directories.

Each guest fd maps to a host fd.  Files keep their own host fd, so the host kernel
keeps the file offset and the ``O_APPEND`` behaviour.  Rights are not stored as a
free-form mask: since ``fd_fdstat_set_rights`` is ``NOTSUP`` (as in wasmtime) they are
fully determined by the descriptor's kind and how it was opened; ``rights_base`` is
what ``fd_fdstat_get`` reports, and the kind/mode checks below enforce it.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Callable

from .abi import RIGHTS_ALL, Errno, Fdflags, Filetype, Rights
from .errors import WasiError
from .perms import DirPerms, FilePerms

R = Rights

#: What wasmtime reports for a preopened directory ("expected by many userlands").
PREOPEN_RIGHTS = (
    R.PATH_CREATE_DIRECTORY | R.PATH_CREATE_FILE | R.PATH_LINK_SOURCE | R.PATH_LINK_TARGET
    | R.PATH_OPEN | R.FD_READDIR | R.PATH_READLINK | R.PATH_RENAME_SOURCE
    | R.PATH_RENAME_TARGET | R.PATH_SYMLINK | R.PATH_REMOVE_DIRECTORY | R.PATH_UNLINK_FILE
    | R.PATH_FILESTAT_GET | R.PATH_FILESTAT_SET_TIMES | R.FD_FILESTAT_GET
    | R.FD_FILESTAT_SET_TIMES
)
PREOPEN_INHERITING = PREOPEN_RIGHTS | (
    R.FD_DATASYNC | R.FD_READ | R.FD_SEEK | R.FD_FDSTAT_SET_FLAGS | R.FD_SYNC | R.FD_TELL
    | R.FD_WRITE | R.FD_ADVISE | R.FD_ALLOCATE | R.FD_FILESTAT_GET | R.FD_FILESTAT_SET_SIZE
    | R.FD_FILESTAT_SET_TIMES | R.POLL_FD_READWRITE
)
#: A directory opened with path_open: everything but what only files can do.
DIR_RIGHTS = RIGHTS_ALL & ~(R.FD_SEEK | R.FD_WRITE | R.FD_FILESTAT_SET_SIZE | R.PATH_FILESTAT_SET_SIZE)


def filetype_of_mode(mode: int) -> Filetype:
    if stat.S_ISREG(mode):
        return Filetype.REGULAR_FILE
    if stat.S_ISDIR(mode):
        return Filetype.DIRECTORY
    if stat.S_ISLNK(mode):
        return Filetype.SYMBOLIC_LINK
    if stat.S_ISCHR(mode):
        return Filetype.CHARACTER_DEVICE
    if stat.S_ISBLK(mode):
        return Filetype.BLOCK_DEVICE
    if stat.S_ISSOCK(mode):
        return Filetype.SOCKET_STREAM
    return Filetype.UNKNOWN   # FIFOs: preview1 has no code for them


@dataclass(eq=False)
class Descriptor:
    """An open guest fd: the host fd behind it."""

    host_fd: int
    owned: bool = True          # close host_fd when the guest closes the descriptor

    def close(self) -> None:
        if self.owned:
            os.close(self.host_fd)

    @property
    def rights_base(self) -> Rights:
        raise NotImplementedError

    @property
    def rights_inheriting(self) -> Rights:
        return self.rights_base


@dataclass(eq=False)
class Stream(Descriptor):
    """stdin (readable) or stdout/stderr: inherited or redirected host fds, not seekable."""

    readable: bool = False

    @property
    def filetype(self) -> Filetype:
        return Filetype.CHARACTER_DEVICE if os.isatty(self.host_fd) else Filetype.UNKNOWN

    @property
    def rights_base(self) -> Rights:
        return R.FD_READ if self.readable else R.FD_WRITE


@dataclass(eq=False)
class File(Descriptor):
    """A regular file opened with path_open."""

    readable: bool = True
    writable: bool = False
    fdflags: Fdflags = Fdflags(0)   # as the guest set them (NONBLOCK is not passed on)
    perms: FilePerms = FilePerms.READ_WRITE   # the preopen's file perms (wasi/perms.py)

    @property
    def rights_base(self) -> Rights:
        rights = RIGHTS_ALL
        if not self.readable:
            rights &= ~(R.FD_READ | R.FD_READDIR)
        if not self.writable:
            rights &= ~R.FD_WRITE
        return rights


@dataclass(eq=False)
class Dir(Descriptor):
    """A directory: a preopen, or one opened with path_open."""

    preopen: str | None = None      # the guest path of a preopened directory
    perms: DirPerms = DirPerms.READ_WRITE        # inherited from the preopen (wasi/perms.py)
    file_perms: FilePerms = FilePerms.READ_WRITE  # the most a file opened beneath may do
    # fd_readdir's entries of the current listing pass (made at cookie 0): a cookie is an
    # index into it, so reading a directory of n entries in k calls lists it once, not k times
    listing: list | None = field(default=None, repr=False)

    @property
    def rights_base(self) -> Rights:
        return PREOPEN_RIGHTS if self.preopen is not None else DIR_RIGHTS

    @property
    def rights_inheriting(self) -> Rights:
        return PREOPEN_INHERITING if self.preopen is not None else DIR_RIGHTS


@dataclass
class FdTable:
    """Guest fd numbers -> descriptors, numbered like wasmtime: a closed number is
    reused (the highest first), otherwise one past the highest number in use."""

    _used: dict[int, Descriptor] = field(default_factory=dict)
    _free: set[int] = field(default_factory=set)
    version: int = 0   # bumped on every change, so caches of the table (the native fd_write) can follow
    #: Called after every change (each native fd_write's map of writable fds follows the table).
    listeners: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)

    def _changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener()

    def add(self, desc: Descriptor) -> int:
        if self._free:
            fd = max(self._free)
            self._free.discard(fd)
        else:
            fd = max(self._used, default=-1) + 1
        if fd >= 2**31:                 # path_open promises fds below 2**31
            raise WasiError(Errno.NFILE)
        self._used[fd] = desc
        self._changed()
        return fd

    def get(self, fd: int) -> Descriptor:
        try:
            return self._used[fd]
        except KeyError:
            raise WasiError(Errno.BADF) from None

    def get_as(self, fd: int, kind: type) -> Descriptor:
        """The descriptor if it is a ``kind`` (or a tuple of kinds), else BADF."""
        desc = self.get(fd)
        if not isinstance(desc, kind):
            raise WasiError(Errno.BADF)
        return desc

    def seekable(self, fd: int) -> File:
        """A File; stdio is SPIPE (not seekable), anything else BADF."""
        desc = self.get(fd)
        if isinstance(desc, Stream):
            raise WasiError(Errno.SPIPE)
        if not isinstance(desc, File):
            raise WasiError(Errno.BADF)
        return desc

    def close(self, fd: int) -> None:
        desc = self.get(fd)
        del self._used[fd]
        self._free.add(fd)
        self._changed()
        desc.close()

    def renumber(self, src: int, dst: int) -> None:
        """Move ``src`` onto ``dst`` (which must be open and is closed first)."""
        desc, old = self.get(src), self.get(dst)
        if src == dst:
            return
        del self._used[src]
        self._free.add(src)
        self._used[dst] = desc
        self._changed()
        old.close()

    def close_all(self) -> None:
        for fd in list(self._used):
            self.close(fd)

    def items(self):
        return self._used.items()
