"""The fd_* functions: I/O, offsets, attributes and directory listing of open descriptors.

Which descriptor kinds each function accepts, and the errno for the others, follow
wasmtime: file-only operations give BADF on directories and stdio, offsets on stdio
give SPIPE, and a descriptor not opened for reading/writing gives BADF.
"""
from __future__ import annotations

import fcntl
import os
import time

from .abi import (DIRENT, FDSTAT, FILESTAT, PRESTAT, Advice, Errno, Fdflags, Filetype,
                  Fstflags, Preopentype, Whence)
from .errors import WasiError
from .fdtable import Dir, File, Stream, filetype_of_mode
from .perms import DirPerms, FilePerms, require
from .registry import I32, I64, Fd, Ptr, wasi_function

_HOST_WHENCE = {Whence.SET: os.SEEK_SET, Whence.CUR: os.SEEK_CUR, Whence.END: os.SEEK_END}
_HOST_ADVICE = {
    Advice.NORMAL: os.POSIX_FADV_NORMAL, Advice.SEQUENTIAL: os.POSIX_FADV_SEQUENTIAL,
    Advice.RANDOM: os.POSIX_FADV_RANDOM, Advice.WILLNEED: os.POSIX_FADV_WILLNEED,
    Advice.DONTNEED: os.POSIX_FADV_DONTNEED, Advice.NOREUSE: os.POSIX_FADV_NOREUSE,
}


# ---- helpers shared with path.py and poll.py --------------------------------------

def signed64(value: int) -> int:
    """An i64 argument (passed unsigned) as the signed value it encodes."""
    return value - (1 << 64) if value >= 1 << 63 else value


def file_offset(value: int) -> int:
    """A u64 filesize/offset the host's off_t can hold (INVAL otherwise)."""
    if value >= 1 << 63:
        raise WasiError(Errno.INVAL)
    return value


def write_filestat(mem, ptr: int, st: os.stat_result, layout=FILESTAT) -> None:
    # Host dev/ino are reported as they are (wasmtime reports dev=1 and a hash).
    # Timestamps before 1970 do not fit the u64: report 0 for them.  ``layout``:
    # wasi_unstable's filestat has a u32 nlink (wasi/unstable.py).
    nlink = st.st_nlink if layout is FILESTAT else min(st.st_nlink, 0xFFFFFFFF)
    mem.pack(layout, ptr, st.st_dev, st.st_ino, filetype_of_mode(st.st_mode), nlink,
             st.st_size, max(st.st_atime_ns, 0), max(st.st_mtime_ns, 0), max(st.st_ctime_ns, 0))


def new_times(current: os.stat_result | None, atim: int, mtim: int, fst_flags: int) -> tuple[int, int]:
    """The (atime, mtime) in ns to set, per fstflags (``current`` supplies unchanged ones)."""
    def pick(value: int, set_: Fstflags, now: Fstflags, old: int) -> int:
        if fst_flags & set_ and fst_flags & now:
            raise WasiError(Errno.INVAL)
        if fst_flags & set_:
            return value
        return time.time_ns() if fst_flags & now else old

    if fst_flags & ~0xF:
        raise WasiError(Errno.INVAL)
    return (pick(atim, Fstflags.ATIM, Fstflags.ATIM_NOW, current.st_atime_ns),
            pick(mtim, Fstflags.MTIM, Fstflags.MTIM_NOW, current.st_mtime_ns))


def _readable(ctx, fd: int):
    desc = ctx.fds.get(fd)
    if isinstance(desc, (File, Stream)) and desc.readable:
        return desc
    raise WasiError(Errno.BADF)


def _writable(ctx, fd: int):
    desc = ctx.fds.get(fd)
    if (isinstance(desc, File) and desc.writable) or (isinstance(desc, Stream) and not desc.readable):
        return desc
    raise WasiError(Errno.BADF)


# ---- reading and writing ---------------------------------------------------------

@wasi_function
def fd_read(ctx, fd: Fd, iovs: Ptr, iovs_len: I32, nread: Ptr) -> Errno:
    mem = ctx.mem()
    mem.check(nread, 4)   # before any I/O: a FAULT must not lose data
    buffers = mem.iovecs(iovs, iovs_len)
    desc = _readable(ctx, fd)
    mem.write_u32(nread, os.readv(desc.host_fd, buffers) if buffers else 0)


@wasi_function
def fd_pread(ctx, fd: Fd, iovs: Ptr, iovs_len: I32, offset: I64, nread: Ptr) -> Errno:
    mem = ctx.mem()
    mem.check(nread, 4)   # before any I/O: a FAULT must not lose data
    buffers = mem.iovecs(iovs, iovs_len)
    desc = ctx.fds.seekable(fd)
    if not desc.readable:
        raise WasiError(Errno.BADF)
    mem.write_u32(nread, os.preadv(desc.host_fd, buffers, file_offset(offset)) if buffers else 0)


@wasi_function
def fd_write(ctx, fd: Fd, iovs: Ptr, iovs_len: I32, nwritten: Ptr) -> Errno:
    mem = ctx.mem()
    mem.check(nwritten, 4)   # before any I/O: a FAULT must not lose data
    buffers = mem.iovecs(iovs, iovs_len)
    desc = _writable(ctx, fd)
    # One writev straight from guest memory to the host fd: no Python-side buffering.
    mem.write_u32(nwritten, os.writev(desc.host_fd, buffers) if buffers else 0)


@wasi_function
def fd_pwrite(ctx, fd: Fd, iovs: Ptr, iovs_len: I32, offset: I64, nwritten: Ptr) -> Errno:
    mem = ctx.mem()
    mem.check(nwritten, 4)   # before any I/O: a FAULT must not lose data
    buffers = mem.iovecs(iovs, iovs_len)
    desc = ctx.fds.seekable(fd)
    if not desc.writable:
        raise WasiError(Errno.BADF)
    # Linux pwrite on an O_APPEND file appends and ignores the offset, like wasmtime.
    mem.write_u32(nwritten, os.pwritev(desc.host_fd, buffers, file_offset(offset)) if buffers else 0)


# ---- offsets ---------------------------------------------------------------------

@wasi_function
def fd_seek(ctx, fd: Fd, offset: I64, whence: I32, newoffset: Ptr) -> Errno:
    desc = ctx.fds.seekable(fd)
    if whence not in _HOST_WHENCE:
        raise WasiError(Errno.INVAL)
    ctx.mem().write_u64(newoffset, os.lseek(desc.host_fd, signed64(offset), _HOST_WHENCE[whence]))


@wasi_function
def fd_tell(ctx, fd: Fd, offset: Ptr) -> Errno:
    desc = ctx.fds.seekable(fd)
    ctx.mem().write_u64(offset, os.lseek(desc.host_fd, 0, os.SEEK_CUR))


# ---- file-only operations --------------------------------------------------------

@wasi_function
def fd_advise(ctx, fd: Fd, offset: I64, len: I64, advice: I32) -> Errno:
    desc = ctx.fds.get_as(fd, File)
    if advice not in _HOST_ADVICE:
        raise WasiError(Errno.INVAL)
    os.posix_fadvise(desc.host_fd, file_offset(offset), file_offset(len), _HOST_ADVICE[advice])


@wasi_function
def fd_allocate(ctx, fd: Fd, offset: I64, len: I64) -> Errno:
    ctx.fds.get_as(fd, File)
    raise WasiError(Errno.NOTSUP)   # as wasmtime: preview1 programs fall back to writing


@wasi_function
def fd_datasync(ctx, fd: Fd) -> Errno:
    os.fdatasync(ctx.fds.get_as(fd, File).host_fd)


@wasi_function
def fd_sync(ctx, fd: Fd) -> Errno:
    os.fsync(ctx.fds.get_as(fd, File).host_fd)


@wasi_function
def fd_filestat_set_size(ctx, fd: Fd, size: I64) -> Errno:
    desc = ctx.fds.get_as(fd, File)
    require(desc.perms, FilePerms.WRITE)
    os.ftruncate(desc.host_fd, file_offset(size))


@wasi_function
def fd_fdstat_set_flags(ctx, fd: Fd, flags: I32) -> Errno:
    desc = ctx.fds.get_as(fd, File)
    # Like wasmtime, only APPEND and NONBLOCK can change after opening.
    if flags & ~(Fdflags.APPEND | Fdflags.NONBLOCK):
        raise WasiError(Errno.INVAL)
    host_flags = fcntl.fcntl(desc.host_fd, fcntl.F_GETFL)
    if flags & Fdflags.APPEND:
        host_flags |= os.O_APPEND
    else:
        host_flags &= ~os.O_APPEND
    fcntl.fcntl(desc.host_fd, fcntl.F_SETFL, host_flags)
    # NONBLOCK is only recorded: host files never block, and stdio is not a File.
    keep = Fdflags.DSYNC | Fdflags.RSYNC | Fdflags.SYNC
    desc.fdflags = (desc.fdflags & keep) | Fdflags(flags)


# ---- attributes ------------------------------------------------------------------

@wasi_function
def fd_fdstat_get(ctx, fd: Fd, stat_ptr: Ptr) -> Errno:
    desc = ctx.fds.get(fd)
    if isinstance(desc, Stream):
        filetype, flags = desc.filetype, 0
    elif isinstance(desc, Dir):
        filetype, flags = Filetype.DIRECTORY, 0
    else:
        filetype, flags = filetype_of_mode(os.fstat(desc.host_fd).st_mode), desc.fdflags
    ctx.mem().pack(FDSTAT, stat_ptr, filetype, flags, desc.rights_base, desc.rights_inheriting)


@wasi_function
def fd_fdstat_set_rights(ctx, fd: Fd, fs_rights_base: I64, fs_rights_inheriting: I64) -> Errno:
    ctx.fds.get_as(fd, (File, Dir))
    raise WasiError(Errno.NOTSUP)   # as wasmtime: rights follow from how an fd was opened


@wasi_function
def fd_filestat_get(ctx, fd: Fd, buf: Ptr) -> Errno:
    filestat_of_fd(ctx, fd, buf, FILESTAT)


def filestat_of_fd(ctx, fd: int, buf: int, layout) -> None:
    desc = ctx.fds.get(fd)
    mem = ctx.mem()
    if isinstance(desc, Stream):
        # Stdio has no meaningful metadata; wasmtime reports zeros and the fd's type.
        mem.pack(layout, buf, 0, 0, desc.filetype, 0, 0, 0, 0, 0)
    else:
        write_filestat(mem, buf, os.fstat(desc.host_fd), layout)


@wasi_function
def fd_filestat_set_times(ctx, fd: Fd, atim: I64, mtim: I64, fst_flags: I32) -> Errno:
    desc = ctx.fds.get_as(fd, (File, Dir))
    require(desc.perms, FilePerms.WRITE if isinstance(desc, File) else DirPerms.MUTATE)
    os.utime(desc.host_fd, ns=new_times(os.fstat(desc.host_fd), atim, mtim, fst_flags))


# ---- descriptors -----------------------------------------------------------------

@wasi_function
def fd_close(ctx, fd: Fd) -> Errno:
    ctx.fds.close(fd)


@wasi_function
def fd_renumber(ctx, fd: Fd, to: Fd) -> Errno:
    ctx.fds.renumber(fd, to)


def _preopen_name(ctx, fd: int) -> bytes:
    desc = ctx.fds.get(fd)
    if not isinstance(desc, Dir) or desc.preopen is None:
        raise WasiError(Errno.BADF)
    return desc.preopen.encode()


@wasi_function
def fd_prestat_get(ctx, fd: Fd, buf: Ptr) -> Errno:
    ctx.mem().pack(PRESTAT, buf, Preopentype.DIR, len(_preopen_name(ctx, fd)))


@wasi_function
def fd_prestat_dir_name(ctx, fd: Fd, path: Ptr, path_len: I32) -> Errno:
    ctx.fds.get(fd)
    try:
        name = _preopen_name(ctx, fd)
    except WasiError:
        raise WasiError(Errno.NOTDIR) from None   # wasmtime's (legacy) errno for a non-preopen
    mem = ctx.mem()
    mem.check(path, path_len)       # the whole declared buffer, not just what we write
    if len(name) > path_len:
        raise WasiError(Errno.NAMETOOLONG)
    mem.write_bytes(path, name)


# ---- directories -----------------------------------------------------------------

def _dir_entries(host_fd: int):
    """(name, inode, filetype) of ".", ".." and then the entries in host order.

    Like wasmtime, ".." carries the directory's own inode: the parent of a preopen
    lies outside the sandbox.
    """
    ino = os.fstat(host_fd).st_ino
    yield b".", ino, Filetype.DIRECTORY
    yield b"..", ino, Filetype.DIRECTORY
    with os.scandir(host_fd) as entries:
        for entry in entries:
            if entry.is_symlink():
                kind = Filetype.SYMBOLIC_LINK
            elif entry.is_dir(follow_symlinks=False):
                kind = Filetype.DIRECTORY
            elif entry.is_file(follow_symlinks=False):
                kind = Filetype.REGULAR_FILE
            else:
                try:
                    kind = filetype_of_mode(entry.stat(follow_symlinks=False).st_mode)
                except FileNotFoundError:
                    continue              # removed while we were listing
            yield os.fsencode(entry.name), entry.inode(), kind


@wasi_function
def fd_readdir(ctx, fd: Fd, buf: Ptr, buf_len: I32, cookie: I64, bufused: Ptr) -> Errno:
    """Entries from position ``cookie`` on; entry i has ``d_next == i + 1``.

    The buffer is filled completely, the last entry truncated if need be: a result
    smaller than ``buf_len`` means the end of the directory was reached.
    """
    desc = ctx.fds.get_as(fd, Dir)
    require(desc.perms, DirPerms.READ)
    mem = ctx.mem()
    mem.check(buf, buf_len)
    mem.check(bufused, 4)
    if cookie == 0 or desc.listing is None:
        desc.listing = list(_dir_entries(desc.host_fd))   # a new pass (rewinddir) sees changes
    out = bytearray()
    for index in range(cookie, len(desc.listing)):
        name, ino, kind = desc.listing[index]
        out += DIRENT.pack(index + 1, ino, len(name), kind) + name
        if len(out) >= buf_len:
            break
    data = bytes(out[:buf_len])
    mem.write_bytes(buf, data)
    mem.write_u32(bufused, len(data))
