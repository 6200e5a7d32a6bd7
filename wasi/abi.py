"""The wasi_snapshot_preview1 ABI: enums, flags and struct layouts from the witx.

Names follow ``typenames.witx`` (upper-cased); values are the witx tag order or bit
position.  Struct layouts are little-endian ``struct.Struct``s whose sizes are the
guest sizes, padding included, so a layout can be packed straight into linear memory.
"""
from __future__ import annotations

import enum
import struct


class Errno(enum.IntEnum):
    """``errno``: the i32 every function but ``proc_exit`` returns."""

    SUCCESS = 0
    TOOBIG = 1  # witx "2big": not a Python identifier
    ACCES = 2
    ADDRINUSE = 3
    ADDRNOTAVAIL = 4
    AFNOSUPPORT = 5
    AGAIN = 6
    ALREADY = 7
    BADF = 8
    BADMSG = 9
    BUSY = 10
    CANCELED = 11
    CHILD = 12
    CONNABORTED = 13
    CONNREFUSED = 14
    CONNRESET = 15
    DEADLK = 16
    DESTADDRREQ = 17
    DOM = 18
    DQUOT = 19
    EXIST = 20
    FAULT = 21
    FBIG = 22
    HOSTUNREACH = 23
    IDRM = 24
    ILSEQ = 25
    INPROGRESS = 26
    INTR = 27
    INVAL = 28
    IO = 29
    ISCONN = 30
    ISDIR = 31
    LOOP = 32
    MFILE = 33
    MLINK = 34
    MSGSIZE = 35
    MULTIHOP = 36
    NAMETOOLONG = 37
    NETDOWN = 38
    NETRESET = 39
    NETUNREACH = 40
    NFILE = 41
    NOBUFS = 42
    NODEV = 43
    NOENT = 44
    NOEXEC = 45
    NOLCK = 46
    NOLINK = 47
    NOMEM = 48
    NOMSG = 49
    NOPROTOOPT = 50
    NOSPC = 51
    NOSYS = 52
    NOTCONN = 53
    NOTDIR = 54
    NOTEMPTY = 55
    NOTRECOVERABLE = 56
    NOTSOCK = 57
    NOTSUP = 58
    NOTTY = 59
    NXIO = 60
    OVERFLOW = 61
    OWNERDEAD = 62
    PERM = 63
    PIPE = 64
    PROTO = 65
    PROTONOSUPPORT = 66
    PROTOTYPE = 67
    RANGE = 68
    ROFS = 69
    SPIPE = 70
    SRCH = 71
    STALE = 72
    TIMEDOUT = 73
    TXTBSY = 74
    XDEV = 75
    NOTCAPABLE = 76


class Rights(enum.IntFlag):
    """``rights`` (u64): what a descriptor may be used for."""

    FD_DATASYNC = 1 << 0
    FD_READ = 1 << 1
    FD_SEEK = 1 << 2
    FD_FDSTAT_SET_FLAGS = 1 << 3
    FD_SYNC = 1 << 4
    FD_TELL = 1 << 5
    FD_WRITE = 1 << 6
    FD_ADVISE = 1 << 7
    FD_ALLOCATE = 1 << 8
    PATH_CREATE_DIRECTORY = 1 << 9
    PATH_CREATE_FILE = 1 << 10
    PATH_LINK_SOURCE = 1 << 11
    PATH_LINK_TARGET = 1 << 12
    PATH_OPEN = 1 << 13
    FD_READDIR = 1 << 14
    PATH_READLINK = 1 << 15
    PATH_RENAME_SOURCE = 1 << 16
    PATH_RENAME_TARGET = 1 << 17
    PATH_FILESTAT_GET = 1 << 18
    PATH_FILESTAT_SET_SIZE = 1 << 19
    PATH_FILESTAT_SET_TIMES = 1 << 20
    FD_FILESTAT_GET = 1 << 21
    FD_FILESTAT_SET_SIZE = 1 << 22
    FD_FILESTAT_SET_TIMES = 1 << 23
    PATH_SYMLINK = 1 << 24
    PATH_REMOVE_DIRECTORY = 1 << 25
    PATH_UNLINK_FILE = 1 << 26
    POLL_FD_READWRITE = 1 << 27
    SOCK_SHUTDOWN = 1 << 28
    SOCK_ACCEPT = 1 << 29


RIGHTS_ALL = Rights((1 << 30) - 1)


class Filetype(enum.IntEnum):
    UNKNOWN = 0
    BLOCK_DEVICE = 1
    CHARACTER_DEVICE = 2
    DIRECTORY = 3
    REGULAR_FILE = 4
    SOCKET_DGRAM = 5
    SOCKET_STREAM = 6
    SYMBOLIC_LINK = 7


class Whence(enum.IntEnum):
    SET = 0
    CUR = 1
    END = 2


class Advice(enum.IntEnum):
    NORMAL = 0
    SEQUENTIAL = 1
    RANDOM = 2
    WILLNEED = 3
    DONTNEED = 4
    NOREUSE = 5


class Fdflags(enum.IntFlag):
    APPEND = 1 << 0
    DSYNC = 1 << 1
    NONBLOCK = 1 << 2
    RSYNC = 1 << 3
    SYNC = 1 << 4


class Fstflags(enum.IntFlag):
    ATIM = 1 << 0
    ATIM_NOW = 1 << 1
    MTIM = 1 << 2
    MTIM_NOW = 1 << 3


class Lookupflags(enum.IntFlag):
    SYMLINK_FOLLOW = 1 << 0


class Oflags(enum.IntFlag):
    CREAT = 1 << 0
    DIRECTORY = 1 << 1
    EXCL = 1 << 2
    TRUNC = 1 << 3


class Clockid(enum.IntEnum):
    REALTIME = 0
    MONOTONIC = 1
    PROCESS_CPUTIME_ID = 2
    THREAD_CPUTIME_ID = 3


class Eventtype(enum.IntEnum):
    CLOCK = 0
    FD_READ = 1
    FD_WRITE = 2


class Eventrwflags(enum.IntFlag):
    FD_READWRITE_HANGUP = 1 << 0


class Subclockflags(enum.IntFlag):
    SUBSCRIPTION_CLOCK_ABSTIME = 1 << 0


class Preopentype(enum.IntEnum):
    DIR = 0


# ---- struct layouts (guest memory, little-endian, explicit padding) ----------

#: iovec / ciovec: buf ptr, buf_len
IOVEC = struct.Struct("<II")
#: filestat: dev, ino, filetype, nlink, size, atim, mtim, ctim
FILESTAT = struct.Struct("<QQB7xQQQQQ")
#: fdstat: fs_filetype, fs_flags, fs_rights_base, fs_rights_inheriting
FDSTAT = struct.Struct("<BxH4xQQ")
#: prestat: tag (preopentype), pr_name_len
PRESTAT = struct.Struct("<B3xI")
#: dirent header (the name follows it): d_next, d_ino, d_namlen, d_type
DIRENT = struct.Struct("<QQIB3x")
#: subscription: userdata, tag, then the union at offset 16 (32 bytes)
SUBSCRIPTION = struct.Struct("<QB7x32s")
#: subscription_clock (union member): id, timeout, precision, flags
SUBSCRIPTION_CLOCK = struct.Struct("<I4xQQH6x")
#: subscription_fd_readwrite (union member): file_descriptor
SUBSCRIPTION_FD = struct.Struct("<I28x")
#: event: userdata, error, type, fd_readwrite.nbytes, fd_readwrite.flags
EVENT = struct.Struct("<QHB5xQH6x")

# --- wasi_unstable (snapshot 0): the layouts that differ from preview1 (wasi/unstable.py) ---
#: filestat with a u32 nlink (snapshot 0's linkcount): dev, ino, filetype, nlink, size, atim, mtim, ctim
FILESTAT_UNSTABLE = struct.Struct("<QQB3xIQQQQ")
#: subscription: userdata, tag, then the union at offset 16 (40 bytes: its clock member is longer)
SUBSCRIPTION_UNSTABLE = struct.Struct("<QB7x40s")
#: subscription_clock: identifier (a userdata, ignored), id, timeout, precision, flags
SUBSCRIPTION_CLOCK_UNSTABLE = struct.Struct("<8xI4xQQH6x")
#: subscription_fd_readwrite padded to the union's 40 bytes
SUBSCRIPTION_FD_UNSTABLE = struct.Struct("<I36x")
#: whence is ordered cur, end, set in snapshot 0: its value -> preview1's
WHENCE_FROM_UNSTABLE = {0: 1, 1: 2, 2: 0}

assert (FILESTAT_UNSTABLE.size, SUBSCRIPTION_UNSTABLE.size, SUBSCRIPTION_CLOCK_UNSTABLE.size) == (56, 56, 40)
assert (IOVEC.size, FILESTAT.size, FDSTAT.size, PRESTAT.size, DIRENT.size,
        SUBSCRIPTION.size, SUBSCRIPTION_CLOCK.size, EVENT.size) == (8, 64, 24, 8, 24, 48, 32, 32)
