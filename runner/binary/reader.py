"""A byte cursor over a wasm binary: LEB128, floats, names, with exact error offsets.

The error messages follow the spec interpreter's wording where the spec
tests check it ("integer representation too long", "unexpected end", ...).
"""
from __future__ import annotations

import struct

from ..errors import DecodeError

_F32 = struct.Struct("<I")
_F64 = struct.Struct("<Q")


class Reader:
    """Sequential reader of ``data[pos:end]``; every error carries the byte offset."""

    __slots__ = ("data", "pos", "end", "features")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, features=None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.features = features    # the decoder's Features (binary.features); None outside it

    def error(self, message: str, offset: int | None = None) -> DecodeError:
        return DecodeError(message, self.pos if offset is None else offset)

    def at_end(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise self.error("unexpected end of section or function" if self.end < len(self.data) else "unexpected end")
        self.pos = pos + 1
        return self.data[pos]

    def bytes(self, n: int) -> bytes:
        pos = self.pos
        if n > self.end - pos:
            raise self.error("unexpected end of section or function" if self.end < len(self.data) else "unexpected end")
        self.pos = pos + n
        return self.data[pos:pos + n]

    def _leb_unsigned(self, bits: int) -> int:
        data, pos, end = self.data, self.pos, self.end
        start = pos
        result = shift = 0
        max_bytes = (bits + 6) // 7
        while True:
            if pos >= end:
                self.pos = pos
                raise self.error("unexpected end" if end >= len(data) else "unexpected end of section or function")
            b = data[pos]
            pos += 1
            if pos - start == max_bytes:
                # Last permitted byte: no continuation, and unused bits must be zero.
                if b & 0x80:
                    self.pos = pos
                    raise self.error("integer representation too long", start)
                if b >> (bits - shift):
                    self.pos = pos
                    raise self.error("integer too large", start)
                result |= b << shift
                break
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        self.pos = pos
        return result

    def _leb_signed(self, bits: int) -> int:
        data, pos, end = self.data, self.pos, self.end
        start = pos
        result = shift = 0
        max_bytes = (bits + 6) // 7
        while True:
            if pos >= end:
                self.pos = pos
                raise self.error("unexpected end" if end >= len(data) else "unexpected end of section or function")
            b = data[pos]
            pos += 1
            if pos - start == max_bytes:
                if b & 0x80:
                    self.pos = pos
                    raise self.error("integer representation too long", start)
                # The unused high bits must all equal the sign bit.
                used = bits - shift          # bits of this byte that carry value (incl. sign)
                rest = (b & 0x7F) >> (used - 1)
                if rest not in (0, (0x7F >> (used - 1))):
                    self.pos = pos
                    raise self.error("integer too large", start)
                result |= (b & 0x7F) << shift
                shift += 7
                break
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        self.pos = pos
        if result & (1 << (shift - 1)):
            result -= 1 << shift
        # Normalise to the two's complement range of `bits`.
        result &= (1 << bits) - 1
        if result >> (bits - 1):
            result -= 1 << bits
        return result

    def u32(self) -> int:
        # Fast paths: one byte, two bytes (a body's size, most indices of a large module);
        # a two-byte u32 is always in range.
        pos = self.pos
        if pos < self.end:
            data = self.data
            b = data[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
            if pos + 1 < self.end:
                c = data[pos + 1]
                if c < 0x80:
                    self.pos = pos + 2
                    return (b & 0x7F) | c << 7
        return self._leb_unsigned(32)

    def u64(self) -> int:
        return self._leb_unsigned(64)

    def s32(self) -> int:
        return self._leb_signed(32)

    def s33(self) -> int:
        return self._leb_signed(33)

    def s64(self) -> int:
        return self._leb_signed(64)

    def f32_bits(self) -> int:
        return _F32.unpack(self.bytes(4))[0]

    def f64_bits(self) -> int:
        return _F64.unpack(self.bytes(8))[0]

    def name(self) -> str:
        n = self.u32()
        start = self.pos
        raw = self.bytes(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("malformed UTF-8 encoding", start) from None

    def vec_len(self) -> int:
        """A vector length, sanity-checked against the bytes left (each element is ≥ 1 byte)."""
        start = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise self.error("unexpected end of section or function" if self.end < len(self.data) else "unexpected end", start)
        return n
