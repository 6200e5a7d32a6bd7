"""Function bodies' local declarations (runner/binary/decode.py ``_body`` and its fast path for
one-byte counts of numeric types) and the two-byte u32 fast path of runner/binary/reader.py:
the same locals, code offsets and errors whichever path reads them."""
from __future__ import annotations

import pytest

from runner.binary.decode import decode
from runner.binary.module import F64, FUNCREF, I32, I64, V128
from runner.binary.reader import Reader
from runner.errors import DecodeError

HEADER = b"\0asm\1\0\0\0"


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _section(sec_id: int, payload: bytes) -> bytes:
    return bytes([sec_id]) + _leb(len(payload)) + payload


def _module(body: bytes) -> bytes:
    """One function of type () -> () with this body (local declarations + code)."""
    return (HEADER + _section(1, b"\1\x60\0\0") + _section(3, b"\1\0")
            + _section(10, b"\1" + _leb(len(body)) + body))


def _decls(*pairs) -> bytes:
    return _leb(len(pairs)) + b"".join(_leb(n) + bytes([t]) for n, t in pairs)


@pytest.mark.parametrize("pairs, expect", [
    ((), []),
    (((2, I32), (1, I64)), [I32, I32, I64]),
    (((127, F64),), [F64] * 127),                       # the largest one-byte count
    (((128, I32),), [I32] * 128),                       # a two-byte count: the general path
    (((1, V128), (3, I32)), [V128, I32, I32, I32]),
    (((0, I32), (1, I64)), [I64]),
    (((1, 0x70),), [FUNCREF]),                          # a reference type: the general path
])
def test_local_declarations(pairs, expect):
    code = b"\x01\x0b"       # nop, end
    wasm = _module(_decls(*pairs) + code)
    (body,) = decode(wasm).bodies
    assert body.locals == expect
    assert wasm[body.code_start:body.code_end] == code


@pytest.mark.parametrize("body, message", [
    (_decls((1, 0x40)) + b"\x0b", "malformed value type 0x40"),
    (_decls((1, I32)), "unexpected end of section or function"),          # no instruction left
    (b"\x02" + _leb(1) + bytes([I32]), "unexpected end"),                 # fewer decls than said
    (_decls((40000, I32), (40000, I32)) + b"\x0b", "too many locals"),
])
def test_malformed_local_declarations(body, message):
    with pytest.raises(DecodeError, match=message):
        decode(_module(body))


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**32 - 1])
def test_u32_fast_paths_match_the_leb_reader(value):
    data = _leb(value) + b"\xff"
    r = Reader(data)
    assert r.u32() == value and r.pos == len(data) - 1


def test_u32_two_byte_value_cut_by_the_end():
    r = Reader(b"\x80\x01", 0, 1)                      # the second byte is past the reader's end
    with pytest.raises(DecodeError):
        r.u32()
