"""Stubs for functions not compiled yet: each a 16-byte ``mov r11d, N; jmp tail``, where
the tail sets r10 to the instance's lazy-context id and jumps to the runtime's
``wr_lazy_entry`` (runner/runtime/native.py), which compiles N and continues into it.

One stub region per instance, built with a few slice assignments (34k functions take
about a millisecond), then made read-only and executable.
"""
from __future__ import annotations

import ctypes
import mmap
import struct
from array import array

from ..layout import LAZY_STUB_SIZE as STUB_SIZE
from .store import _MAP_FAILED, _libc

_STUB = bytes.fromhex("41bb00000000e900000000cccccccccc")   # mov r11d, imm32; jmp rel32; int3 padding
assert len(_STUB) == STUB_SIZE
_TAIL = bytes.fromhex("49ba") + b"\0" * 8 + bytes.fromhex("ff2500000000") + b"\0" * 8   # mov r10, imm64; jmp *0(%rip); .quad
PAGE = 4096


class StubRegion:
    """Stubs for functions ``first .. first + count - 1``."""

    def __init__(self, first: int, count: int, ctx: int, lazy_entry: int):
        self.first, self.count = first, count
        code = bytearray(_STUB * count)
        tail_at = count * STUB_SIZE
        indices = array("I", range(first, first + count)).tobytes()
        for b in range(4):                       # mov r11d, imm32: the imm at byte 2
            code[2 + b::STUB_SIZE] = indices[b::4]
        rel = array("i", range(tail_at - 11, tail_at - 11 - count * STUB_SIZE, -STUB_SIZE)).tobytes()
        for b in range(4):                       # jmp rel32 at byte 6: relative to byte 11
            code[7 + b::STUB_SIZE] = rel[b::4]
        tail = bytearray(_TAIL)
        struct.pack_into("<Q", tail, 2, ctx)
        struct.pack_into("<Q", tail, 16, lazy_entry)
        code += tail
        self.size = (len(code) + PAGE - 1) // PAGE * PAGE
        base = _libc.mmap(None, self.size, mmap.PROT_READ | mmap.PROT_WRITE,
                          mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if base in (None, _MAP_FAILED):
            raise MemoryError("cannot map the lazy-compile stubs")
        ctypes.memmove(base, bytes(code), len(code))
        if _libc.mprotect(base, self.size, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
            _libc.munmap(base, self.size)
            raise OSError(ctypes.get_errno(), "mprotect of the lazy-compile stubs failed")
        self.base = base

    def address(self, func_index: int) -> int:
        return self.base + (func_index - self.first) * STUB_SIZE

    def addresses(self) -> range:
        """Every stub's address, in index order."""
        return range(self.base, self.base + self.count * STUB_SIZE, STUB_SIZE)

    def close(self) -> None:
        if self.base:
            _libc.munmap(self.base, self.size)
            self.base = 0
