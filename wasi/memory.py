"""Bounds-checked access to the guest's linear memory.

Every guest pointer a host function touches goes through :class:`GuestMemory`.  An
access that does not fit in the memory raises ``WasiError(Errno.FAULT)``, which the
registry turns into the function's return value: a bad pointer never becomes a
Python exception in the runtime.  (wasmtime traps instead; the witx leaves the
choice to the host and returning ``FAULT`` keeps the guest in control.)
Alignment is not checked: unaligned accesses are well defined in wasm.
"""
from __future__ import annotations

import struct

from .abi import IOVEC, Errno
from .errors import WasiError

_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))

# Linux refuses readv/writev with more than IOV_MAX buffers; a shorter transfer is legal.
IOV_MAX = 1024


class GuestMemory:
    """A view of linear memory for the duration of one host call.

    Build it per call (``ctx.mem()``): ``memory.grow`` may move the memory, so a view
    must never be kept across calls.
    """

    __slots__ = ("_view", "_size")

    def __init__(self, view: memoryview):
        self._view = view if view.format == "B" else view.cast("B")
        self._size = len(self._view)

    def __len__(self) -> int:
        return self._size

    def check(self, ptr: int, size: int) -> None:
        """Raise FAULT unless ``[ptr, ptr + size)`` lies inside the memory."""
        if ptr < 0 or size < 0 or ptr + size > self._size:
            raise WasiError(Errno.FAULT)

    # ---- raw bytes -------------------------------------------------------------
    def slice(self, ptr: int, size: int) -> memoryview:
        """A writable window onto guest memory (for readv/readinto straight into the guest)."""
        self.check(ptr, size)
        return self._view[ptr:ptr + size]

    def read_bytes(self, ptr: int, size: int) -> bytes:
        return bytes(self.slice(ptr, size))

    def write_bytes(self, ptr: int, data: bytes) -> None:
        self.slice(ptr, len(data))[:] = data

    def read_str(self, ptr: int, size: int) -> str:
        """A UTF-8 string argument (ILSEQ if it is not valid UTF-8)."""
        try:
            return self.read_bytes(ptr, size).decode("utf-8")
        except UnicodeDecodeError:
            raise WasiError(Errno.ILSEQ) from None

    # ---- structs and integers --------------------------------------------------
    # unpack/pack check the bounds themselves: they are on every host call's path (one frame less).
    def unpack(self, layout: struct.Struct, ptr: int) -> tuple:
        if ptr < 0 or ptr + layout.size > self._size:
            raise WasiError(Errno.FAULT)
        return layout.unpack_from(self._view, ptr)

    def pack(self, layout: struct.Struct, ptr: int, *values) -> None:
        if ptr < 0 or ptr + layout.size > self._size:
            raise WasiError(Errno.FAULT)
        layout.pack_into(self._view, ptr, *values)

    def read_u8(self, ptr: int) -> int:
        return self.unpack(_U8, ptr)[0]

    def read_u16(self, ptr: int) -> int:
        return self.unpack(_U16, ptr)[0]

    def read_u32(self, ptr: int) -> int:
        return self.unpack(_U32, ptr)[0]

    def read_u64(self, ptr: int) -> int:
        return self.unpack(_U64, ptr)[0]

    def write_u8(self, ptr: int, value: int) -> None:
        self.pack(_U8, ptr, value)

    def write_u16(self, ptr: int, value: int) -> None:
        self.pack(_U16, ptr, value)

    def write_u32(self, ptr: int, value: int) -> None:
        self.pack(_U32, ptr, value)

    def write_u64(self, ptr: int, value: int) -> None:
        self.pack(_U64, ptr, value)

    # ---- scatter/gather lists --------------------------------------------------
    def iovecs(self, ptr: int, count: int) -> list[memoryview]:
        """The buffers of an (c)iovec array, each bounds-checked; empty ones dropped.

        At most IOV_MAX buffers are returned: the transfer is then short, which the
        guest's libc handles like any short read or write.
        """
        self.check(ptr, count * IOVEC.size)
        view, limit = self._view, self._size
        buffers = []
        # One pass over the array; every buffer is checked, even an empty one (a bad iovec is a fault).
        for buf, size in IOVEC.iter_unpack(view[ptr:ptr + count * IOVEC.size]):
            if buf + size > limit:
                raise WasiError(Errno.FAULT)
            if size:
                buffers.append(view[buf:buf + size])
        return buffers[:IOV_MAX]
