"""The path_* functions.  Every path goes through ``sandbox.resolve``; the final
operation is an ``*at`` call on a single name, in its no-follow form."""
from __future__ import annotations

import errno
import os
import stat

from .abi import FILESTAT, Errno, Fdflags, Lookupflags, Oflags, Rights
from .errors import WasiError
from .fd import new_times, write_filestat
from .fdtable import Dir, File
from .perms import DirPerms, FilePerms, require
from .registry import I32, I64, Fd, Ptr, wasi_function
from .sandbox import check_symlink_target, resolve


def _dir_and_path(ctx, fd: int, path: int, path_len: int, need: DirPerms = DirPerms.READ) -> tuple[Dir, str]:
    desc = ctx.fds.get_as(fd, Dir)
    require(desc.perms, need)
    return desc, ctx.mem().read_str(path, path_len)


def _check_open_perms(desc: Dir, oflags: int, rights: int) -> None:
    """What the preopen's permissions allow path_open to do (as wasmtime's open_at):
    creating or truncating needs a mutable directory, writing needs it and files' WRITE."""
    require(desc.perms, DirPerms.READ)
    writes = bool(rights & Rights.FD_WRITE)
    if oflags & (Oflags.CREAT | Oflags.TRUNC) or writes:
        require(desc.perms, DirPerms.MUTATE)
    if oflags & Oflags.CREAT or writes:
        require(desc.file_perms, FilePerms.WRITE)


def _follow(flags: int) -> bool:
    return bool(flags & Lookupflags.SYMLINK_FOLLOW)


@wasi_function
def path_open(ctx, fd: Fd, dirflags: I32, path: Ptr, path_len: I32, oflags: I32,
              fs_rights_base: I64, fs_rights_inheriting: I64, fdflags: I32,
              opened_fd: Ptr) -> Errno:
    mem = ctx.mem()
    mem.check(opened_fd, 4)       # fail before creating anything
    desc = ctx.fds.get(fd)
    if isinstance(desc, File):
        raise WasiError(Errno.NOTDIR)
    if not isinstance(desc, Dir):
        raise WasiError(Errno.BADF)
    name = mem.read_str(path, path_len)
    _check_open_perms(desc, oflags, fs_rights_base)
    if oflags & ~0xF or fdflags & ~0x1F or (oflags & Oflags.CREAT and oflags & Oflags.DIRECTORY):
        raise WasiError(Errno.INVAL)
    if oflags & Oflags.TRUNC and not fs_rights_base & (Rights.FD_FILESTAT_SET_SIZE | Rights.FD_WRITE):
        # Truncating changes the file: a read-only descriptor may not (wasi-libc, Rust and Go ask
        # for FD_FILESTAT_SET_SIZE / FD_WRITE with write access only).  Linux truncates on
        # O_RDONLY|O_TRUNC, and so does wasmtime; the rights are the guest's statement of intent.
        raise WasiError(Errno.NOTCAPABLE)

    # The access mode follows the requested rights, as in wasmtime: write access only
    # when FD_WRITE is asked for, read access when FD_READ is (or nothing else is).
    writable = bool(fs_rights_base & Rights.FD_WRITE)
    readable = bool(fs_rights_base & Rights.FD_READ) or not writable
    flags = os.O_CLOEXEC | os.O_NOCTTY | os.O_NOFOLLOW
    flags |= os.O_RDWR if readable and writable else os.O_WRONLY if writable else os.O_RDONLY
    for wasi_flag, host_flag in ((Oflags.CREAT, os.O_CREAT), (Oflags.EXCL, os.O_EXCL),
                                 (Oflags.TRUNC, os.O_TRUNC), (Oflags.DIRECTORY, os.O_DIRECTORY)):
        if oflags & wasi_flag:
            flags |= host_flag
    for wasi_flag, host_flag in ((Fdflags.APPEND, os.O_APPEND), (Fdflags.DSYNC, os.O_DSYNC),
                                 (Fdflags.SYNC, os.O_SYNC), (Fdflags.RSYNC, os.O_RSYNC)):
        if fdflags & wasi_flag:
            flags |= host_flag

    # O_CREAT|O_EXCL never follows a final symlink (POSIX): it must fail with EXIST.
    exclusive = oflags & Oflags.CREAT and oflags & Oflags.EXCL
    follow = _follow(dirflags) and not exclusive
    with resolve(desc.host_fd, name, follow=follow) as where:
        try:
            host_fd = os.open(where.name, flags, 0o666, dir_fd=where.dir_fd)
        except OSError as err:
            # O_DIRECTORY|O_NOFOLLOW on a symlink gives ENOTDIR; wasmtime says LOOP.
            if err.errno == errno.ENOTDIR and oflags & Oflags.DIRECTORY and _is_symlink(where):
                raise WasiError(Errno.LOOP) from None
            raise
    try:
        if stat.S_ISDIR(os.fstat(host_fd).st_mode):
            new = Dir(host_fd, perms=desc.perms, file_perms=desc.file_perms)
        else:
            new = File(host_fd, readable=readable, writable=writable, fdflags=Fdflags(fdflags),
                       perms=desc.file_perms)
        mem.write_u32(opened_fd, ctx.fds.add(new))
    except BaseException:
        os.close(host_fd)
        raise


def _is_symlink(where) -> bool:
    try:
        return stat.S_ISLNK(os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


@wasi_function
def path_create_directory(ctx, fd: Fd, path: Ptr, path_len: I32) -> Errno:
    desc, name = _dir_and_path(ctx, fd, path, path_len, DirPerms.MUTATE)
    with resolve(desc.host_fd, name) as where:
        os.mkdir(where.name, 0o777, dir_fd=where.dir_fd)


@wasi_function
def path_remove_directory(ctx, fd: Fd, path: Ptr, path_len: I32) -> Errno:
    desc, name = _dir_and_path(ctx, fd, path, path_len, DirPerms.MUTATE)
    with resolve(desc.host_fd, name) as where:
        os.rmdir(where.name, dir_fd=where.dir_fd)


@wasi_function
def path_unlink_file(ctx, fd: Fd, path: Ptr, path_len: I32) -> Errno:
    desc, name = _dir_and_path(ctx, fd, path, path_len, DirPerms.MUTATE)
    with resolve(desc.host_fd, name) as where:
        os.unlink(where.name, dir_fd=where.dir_fd)


@wasi_function
def path_filestat_get(ctx, fd: Fd, flags: I32, path: Ptr, path_len: I32, buf: Ptr) -> Errno:
    filestat_of_path(ctx, fd, flags, path, path_len, buf, FILESTAT)


def filestat_of_path(ctx, fd: int, flags: int, path: int, path_len: int, buf: int, layout) -> None:
    desc, name = _dir_and_path(ctx, fd, path, path_len)
    with resolve(desc.host_fd, name, follow=_follow(flags)) as where:
        st = os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)
    write_filestat(ctx.mem(), buf, st, layout)


@wasi_function
def path_filestat_set_times(ctx, fd: Fd, flags: I32, path: Ptr, path_len: I32,
                            atim: I64, mtim: I64, fst_flags: I32) -> Errno:
    desc, name = _dir_and_path(ctx, fd, path, path_len, DirPerms.MUTATE)
    with resolve(desc.host_fd, name, follow=_follow(flags)) as where:
        current = os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)
        times = new_times(current, atim, mtim, fst_flags)
        os.utime(where.name, ns=times, dir_fd=where.dir_fd, follow_symlinks=False)


@wasi_function
def path_link(ctx, old_fd: Fd, old_flags: I32, old_path: Ptr, old_path_len: I32,
              new_fd: Fd, new_path: Ptr, new_path_len: I32) -> Errno:
    src_dir, src = _dir_and_path(ctx, old_fd, old_path, old_path_len, DirPerms.MUTATE)
    dst_dir, dst = _dir_and_path(ctx, new_fd, new_path, new_path_len, DirPerms.MUTATE)
    if _follow(old_flags):
        raise WasiError(Errno.INVAL)     # as wasmtime: hard links to a symlink's target are refused
    with resolve(src_dir.host_fd, src) as a, resolve(dst_dir.host_fd, dst) as b:
        _check_new_entry(dst, b)
        os.link(a.name, b.name, src_dir_fd=a.dir_fd, dst_dir_fd=b.dir_fd, follow_symlinks=False)


def _check_new_entry(path: str, where) -> None:
    """link and symlink make a non-directory: a new path ending in ``/`` names a directory,
    so a missing one is NOENT (as wasmtime and Linux say) rather than a new entry without
    the slash; an existing one fails in the call itself (EXIST, or NOTDIR from resolve)."""
    if path.endswith(("/", "/.")):
        try:
            os.stat(where.name, dir_fd=where.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            raise WasiError(Errno.NOENT) from None


@wasi_function
def path_rename(ctx, fd: Fd, old_path: Ptr, old_path_len: I32,
                new_fd: Fd, new_path: Ptr, new_path_len: I32) -> Errno:
    src_dir, src = _dir_and_path(ctx, fd, old_path, old_path_len, DirPerms.MUTATE)
    dst_dir, dst = _dir_and_path(ctx, new_fd, new_path, new_path_len, DirPerms.MUTATE)
    with resolve(src_dir.host_fd, src) as a, resolve(dst_dir.host_fd, dst) as b:
        os.rename(a.name, b.name, src_dir_fd=a.dir_fd, dst_dir_fd=b.dir_fd)


@wasi_function
def path_symlink(ctx, old_path: Ptr, old_path_len: I32, fd: Fd,
                 new_path: Ptr, new_path_len: I32) -> Errno:
    target = ctx.mem().read_str(old_path, old_path_len)
    desc, name = _dir_and_path(ctx, fd, new_path, new_path_len, DirPerms.MUTATE)
    check_symlink_target(target)
    with resolve(desc.host_fd, name) as where:
        _check_new_entry(name, where)
        os.symlink(target, where.name, dir_fd=where.dir_fd)


@wasi_function
def path_readlink(ctx, fd: Fd, path: Ptr, path_len: I32, buf: Ptr, buf_len: I32,
                  bufused: Ptr) -> Errno:
    desc, name = _dir_and_path(ctx, fd, path, path_len)
    mem = ctx.mem()
    mem.check(buf, buf_len)         # the whole declared buffer, not just what we write
    mem.check(bufused, 4)
    with resolve(desc.host_fd, name) as where:
        target = os.readlink(os.fsencode(where.name), dir_fd=where.dir_fd)
    check_symlink_target(target)
    target = target[:buf_len]        # truncated to the buffer, as readlink(2) does
    mem.write_bytes(buf, target)
    mem.write_u32(bufused, len(target))
