"""perf's jitdump format: a writer (the agent) and a reader (for tests and scripts).

The format is tools/perf/Documentation/jitdump-specification.txt in the Linux
tree: a 40-byte header, then records that each start with ``id, total_size,
timestamp``.  ``perf inject --jit`` turns every JIT_CODE_LOAD into an ELF file
``jitted-<pid>-<code_index>.so`` next to the dump, with a ``.debug_line``
built from the JIT_CODE_DEBUG_INFO record that precedes it.

Where the dump goes: ``$JITDUMPDIR/jit-<pid>.dump`` when that variable is set,
else ``./jit-<pid>.dump`` like wasmtime.  perf learns the path from our mmap of
the file, so any directory works; the variable lets scripts/profile.sh collect
the dump and perf inject's output in one place without changing the
program's working directory (which relative paths in its arguments need).
"""
from __future__ import annotations

import ctypes
import mmap
import os
import platform
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

from .base import LineRow, ProfilingAgent, clean_name

__all__ = [
    "JitDumpAgent", "read_jitdump", "line_table", "JitDumpFile", "JitDumpHeader",
    "CodeLoad", "DebugInfo", "DebugEntry", "CodeClose", "UnknownRecord",
]

MAGIC = 0x4A695444  # "JiTD" when read in the writer's byte order
VERSION = 1
JIT_CODE_LOAD = 0
JIT_CODE_MOVE = 1
JIT_CODE_DEBUG_INFO = 2
JIT_CODE_CLOSE = 3

# Native byte order (the magic tells readers which one), standard sizes, no padding.
_HEADER = struct.Struct("=IIIIIIQQ")
_RECORD = struct.Struct("=IIQ")
_CODE_LOAD = struct.Struct("=IIQQQQ")
_DEBUG_INFO = struct.Struct("=QQ")
_DEBUG_ENTRY = struct.Struct("=QII")

_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "aarch64": 183, "arm64": 183, "riscv64": 243}


def _timestamp() -> int:
    # perf record -k mono samples with CLOCK_MONOTONIC; records must use the same clock.
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _elf_machine() -> int:
    """e_machine of the interpreter's own ELF image, i.e. of the code we generate."""
    try:
        with open("/proc/self/exe", "rb") as f:
            ident = f.read(20)
        order = "<" if ident[5] == 1 else ">"
        return struct.unpack_from(order + "H", ident, 18)[0]
    except (OSError, IndexError, struct.error):
        return _ELF_MACHINES.get(platform.machine().lower(), 0)


def _libc() -> ctypes.CDLL:
    # A private handle, so setting argtypes cannot disturb other ctypes users of libc.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.restype = ctypes.c_int
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


def line_table(rows: Sequence[LineRow], code_addr: int, code_size: int) -> list[tuple[int, int, str]]:
    """The ``(address, line, file)`` entries perf needs for one function.

    perf rebases each entry by ``code_addr`` (so addresses are absolute) and
    stops the line program at the last entry, so the table is sorted, clipped to
    the function, and closed by a sentinel at ``code_addr + code_size`` that
    repeats the last line.  Line-0 rows (LLVM's compiler-generated code) are
    dropped so that their code counts for the line before them instead of
    showing as ``file:0``; code before the first real row counts for that row.
    """
    end = code_addr + code_size
    by_addr: dict[int, LineRow] = {}
    for row in sorted(rows, key=lambda r: r.address):  # stable: the last row at an address wins
        if row.line > 0 and code_addr <= row.address < end:
            by_addr[row.address] = row
    entries: list[tuple[int, int, str]] = []
    for addr in sorted(by_addr):
        row = by_addr[addr]
        if entries and entries[-1][1:] == (row.line, row.file):
            continue  # the previous entry already covers this address
        entries.append((addr if entries else code_addr, row.line, row.file))
    if entries:
        entries.append((end, entries[-1][1], entries[-1][2]))
    return entries


class JitDumpAgent(ProfilingAgent):
    """Writes ``jit-<pid>.dump`` for ``perf record -k mono`` + ``perf inject --jit``."""

    def __init__(self, directory: Union[str, os.PathLike, None] = None):
        directory = directory or os.environ.get("JITDUMPDIR") or os.curdir
        self.pid = os.getpid()
        self.path = Path(directory) / f"jit-{self.pid}.dump"
        self._lock = threading.Lock()
        self._code_index = 0
        self._marker = None
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            self._write(_HEADER.pack(MAGIC, VERSION, _HEADER.size, _elf_machine(), 0,
                                     self.pid, _timestamp(), 0))
            self._map_marker()
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    def _map_marker(self) -> None:
        # perf finds the dump only through an executable mapping of it in the
        # recorded process (a PERF_RECORD_MMAP event carrying the path).
        # Python's mmap module refuses a mapping longer than the file, hence libc.
        libc = _libc()
        length = mmap.PAGESIZE
        addr = libc.mmap(None, length, mmap.PROT_READ | mmap.PROT_EXEC, mmap.MAP_PRIVATE,
                         self._fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            err = ctypes.get_errno()
            raise OSError(err, f"cannot map {self.path} executable for perf: {os.strerror(err)}")
        self._marker = (libc, addr, length)

    def _write(self, data: bytes) -> None:
        # One write per record, so a reader never sees half a record unless we die mid-call.
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def _record(self, rid: int, body: bytes) -> bytes:
        return _RECORD.pack(rid, _RECORD.size + len(body), _timestamp()) + body

    def register_function(self, name: str, address: int, size: int,
                          lines: Sequence[LineRow] = ()) -> None:
        code = ctypes.string_at(address, size) if size else b""
        name_bytes = clean_name(name, address).encode("utf-8", "replace") + b"\0"
        entries = line_table(lines, address, size)
        debug = b""
        if entries:
            parts = [_DEBUG_INFO.pack(address, len(entries))]
            for addr, line, file in entries:
                parts.append(_DEBUG_ENTRY.pack(addr, line & 0xFFFFFFFF, 0))
                parts.append(file.replace("\0", "").encode("utf-8", "replace") + b"\0")
            debug = b"".join(parts)
        with self._lock:
            if self._fd is None:
                raise ValueError(f"{self.path} is closed")
            if debug:  # perf attaches a DEBUG_INFO record to the CODE_LOAD after it
                self._write(self._record(JIT_CODE_DEBUG_INFO, debug))
            load = _CODE_LOAD.pack(self.pid, threading.get_native_id(), address, address,
                                   size, self._code_index)
            self._write(self._record(JIT_CODE_LOAD, load + name_bytes + code))
            self._code_index += 1

    def close(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            try:
                self._write(self._record(JIT_CODE_CLOSE, b""))
            finally:
                if self._marker is not None:
                    libc, addr, length = self._marker
                    libc.munmap(addr, length)
                    self._marker = None
                os.close(self._fd)
                self._fd = None


# --- reading ---------------------------------------------------------------

@dataclass(frozen=True)
class JitDumpHeader:
    version: int
    total_size: int
    elf_mach: int
    pid: int
    timestamp: int
    flags: int
    byte_order: str  # "<" or ">"


@dataclass(frozen=True)
class CodeLoad:
    timestamp: int
    pid: int
    tid: int
    vma: int
    code_addr: int
    code_size: int
    code_index: int
    name: str
    code: bytes


@dataclass(frozen=True)
class DebugEntry:
    address: int
    line: int
    discrim: int
    file: str


@dataclass(frozen=True)
class DebugInfo:
    timestamp: int
    code_addr: int
    entries: tuple[DebugEntry, ...]


@dataclass(frozen=True)
class CodeClose:
    timestamp: int


@dataclass(frozen=True)
class UnknownRecord:
    id: int
    timestamp: int
    payload: bytes


Record = Union[CodeLoad, DebugInfo, CodeClose, UnknownRecord]


@dataclass
class JitDumpFile:
    header: JitDumpHeader
    records: list[Record] = field(default_factory=list)

    @property
    def code_loads(self) -> list[CodeLoad]:
        return [r for r in self.records if isinstance(r, CodeLoad)]

    def debug_info_for(self, load: CodeLoad) -> DebugInfo | None:
        """The DEBUG_INFO record perf would attach to *load* (the one right before it)."""
        i = self.records.index(load)
        prev = self.records[i - 1] if i else None
        return prev if isinstance(prev, DebugInfo) else None


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(b"\0", pos)
    return data[pos:end].decode("utf-8", "replace"), end + 1


def _parse_record(rid: int, ts: int, body: bytes, order: str) -> Record:
    if rid == JIT_CODE_LOAD:
        fmt = struct.Struct(order + _CODE_LOAD.format[1:])
        pid, tid, vma, code_addr, code_size, index = fmt.unpack_from(body)
        name, pos = _cstring(body, fmt.size)
        code = body[pos:pos + code_size]
        if len(code) != code_size:
            raise ValueError(f"CODE_LOAD {name!r}: {len(code)} code bytes, expected {code_size}")
        return CodeLoad(ts, pid, tid, vma, code_addr, code_size, index, name, code)
    if rid == JIT_CODE_DEBUG_INFO:
        fmt = struct.Struct(order + _DEBUG_INFO.format[1:])
        entry = struct.Struct(order + _DEBUG_ENTRY.format[1:])
        code_addr, count = fmt.unpack_from(body)
        pos, entries = fmt.size, []
        for _ in range(count):
            addr, line, discrim = entry.unpack_from(body, pos)
            file, pos = _cstring(body, pos + entry.size)
            entries.append(DebugEntry(addr, line, discrim, file))
        return DebugInfo(ts, code_addr, tuple(entries))
    if rid == JIT_CODE_CLOSE:
        return CodeClose(ts)
    return UnknownRecord(rid, ts, body)


def read_jitdump(path: Union[str, os.PathLike]) -> JitDumpFile:
    """Parse a jitdump file; ValueError if it is not one or is truncated."""
    data = Path(path).read_bytes()
    if len(data) < _HEADER.size:
        raise ValueError(f"{path}: too short for a jitdump header")
    if struct.unpack_from("<I", data)[0] == MAGIC:
        order = "<"
    elif struct.unpack_from(">I", data)[0] == MAGIC:
        order = ">"
    else:
        raise ValueError(f"{path}: not a jitdump file (bad magic)")
    _, version, total, mach, _, pid, ts, flags = struct.unpack_from(order + _HEADER.format[1:], data)
    dump = JitDumpFile(JitDumpHeader(version, total, mach, pid, ts, flags, order))
    record = struct.Struct(order + _RECORD.format[1:])
    pos = total
    while pos < len(data):
        if len(data) - pos < record.size:
            raise ValueError(f"{path}: truncated record header at offset {pos}")
        rid, size, ts = record.unpack_from(data, pos)
        if size < record.size or pos + size > len(data):
            raise ValueError(f"{path}: bad record size {size} at offset {pos}")
        try:
            dump.records.append(_parse_record(rid, ts, data[pos + record.size:pos + size], order))
        except (struct.error, ValueError) as e:
            raise ValueError(f"{path}: malformed record {rid} at offset {pos}: {e}") from None
        pos += size
    return dump
