"""NaN bits under LLVM optimisation, beyond what the spec suite catches.

LLVM may fold x*1.0, x-0.0, x/-1.0, fptrunc(fpext x), ... to x (or fneg x), keeping a
signalling NaN unquieted where wasm needs an arithmetic NaN.  The spec tests use literal
constants; here the identity constants reach the operation through locals, conversions
of literals and zero-initialised locals, which LLVM's optimiser also sees through.  And
the bit-preserving operations (load/store, reinterpret, select, neg/abs/copysign) must
keep a signalling NaN's payload at every optimisation level.
"""
from __future__ import annotations

import struct

import pytest

from runner.api import Config, Engine

F32, F64, I32 = 0x7D, 0x7C, 0x7F
SNAN32, SNAN64 = 0x7FA00000, 0x7FF4000000000000


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + _uleb(len(payload)) + payload


def module(funcs: list[tuple[str, list[int], list[int], list[int], bytes]], memory: bool = False) -> bytes:
    """funcs: (export name, params, results, locals, body code without the final end)."""
    types = [b"\x60" + _vec([bytes([t]) for t in p]) + _vec([bytes([t]) for t in r]) for _, p, r, _, _ in funcs]
    code = []
    for _, _, _, locs, body in funcs:
        b = _vec([b"\x01" + bytes([t]) for t in locs]) + body + b"\x0b"
        code.append(_uleb(len(b)) + b)
    out = b"\0asm\1\0\0\0" + _section(1, _vec(types)) + _section(3, _vec([_uleb(i) for i in range(len(funcs))]))
    if memory:
        out += _section(5, _vec([b"\x00\x01"]))
    out += _section(7, _vec([_vec([]) [:0] + _uleb(len(n)) + n.encode() + b"\x00" + _uleb(i)
                             for i, (n, *_rest) in enumerate(funcs)]))
    return out + _section(10, _vec(code))


def f32c(bits: int) -> bytes:
    return b"\x43" + struct.pack("<I", bits)


def f64c(bits: int) -> bytes:
    return b"\x44" + struct.pack("<Q", bits)


def i32c(v: int) -> bytes:
    return b"\x41" + _sleb(v)


GET0, GET1 = b"\x20\x00", b"\x20\x01"
SET1 = b"\x21\x01"

# Operations that must return an arithmetic NaN for a signalling NaN argument.
QUIETING = [
    ("f32_mul_one_local", [F32], [F32], [F32], f32c(0x3F800000) + SET1 + GET0 + GET1 + b"\x94"),
    ("f32_sub_zero_local", [F32], [F32], [F32], f32c(0) + SET1 + GET0 + GET1 + b"\x93"),
    ("f32_sub_zero_init", [F32], [F32], [F32], GET0 + GET1 + b"\x93"),
    ("f32_add_negzero_local", [F32], [F32], [F32], f32c(0x80000000) + SET1 + GET0 + GET1 + b"\x92"),
    ("f32_div_neg1_local", [F32], [F32], [F32], f32c(0xBF800000) + SET1 + GET0 + GET1 + b"\x95"),
    ("f32_negzero_sub", [F32], [F32], [F32], f32c(0x80000000) + SET1 + GET1 + GET0 + b"\x93"),
    ("f32_mul_convert_one", [F32], [F32], [], GET0 + i32c(1) + b"\xb2" + b"\x94"),
    ("f32_div_reinterpret_one", [F32], [F32], [], GET0 + i32c(0x3F800000) + b"\xbe" + b"\x95"),
    ("f32_mul_demoted_one", [F32], [F32], [], GET0 + f64c(0x3FF0000000000000) + b"\xb6" + b"\x94"),
    ("f32_promote_demote_local", [F32], [F32], [F64], GET0 + b"\xbb" + SET1 + GET1 + b"\xb6"),
    ("f32_min_self", [F32], [F32], [], GET0 + GET0 + b"\x96"),
    ("f32_max_negzero", [F32], [F32], [], GET0 + f32c(0x80000000) + b"\x97"),
    ("f64_mul_one_local", [F64], [F64], [F64], f64c(0x3FF0000000000000) + SET1 + GET0 + GET1 + b"\xa2"),
    ("f64_sub_zero_init", [F64], [F64], [F64], GET0 + GET1 + b"\xa1"),
    ("f64_mul_convert_one", [F64], [F64], [], GET0 + i32c(1) + b"\xb7" + b"\xa2"),
]

# Operations that must keep every bit of a signalling NaN.
PRESERVING = [
    ("f32_id_local", [F32], [F32], [F32], GET0 + SET1 + GET1, lambda x: x),
    ("f32_neg", [F32], [F32], [], GET0 + b"\x8c", lambda x: x ^ 0x80000000),
    ("f32_abs_neg", [F32], [F32], [], GET0 + b"\x8c" + b"\x8b", lambda x: x & 0x7FFFFFFF),
    ("f32_copysign_neg", [F32], [F32], [], GET0 + f32c(0xBF800000) + b"\x98", lambda x: x | 0x80000000),
    ("f32_select", [F32], [F32], [], GET0 + f32c(0) + i32c(1) + b"\x1b", lambda x: x),
    ("f32_store_load", [F32], [F32], [], i32c(8) + GET0 + b"\x38\x02\x00" + i32c(8) + b"\x2a\x02\x00",
     lambda x: x),
    ("f32_reinterpret_roundtrip", [F32], [F32], [], GET0 + b"\xbc" + b"\xbe", lambda x: x),
    ("f64_neg", [F64], [F64], [], GET0 + b"\x9a", lambda x: x ^ (1 << 63)),
    ("f64_store_load", [F64], [F64], [], i32c(8) + GET0 + b"\x39\x03\x00" + i32c(8) + b"\x2b\x03\x00",
     lambda x: x),
]


@pytest.fixture(scope="module", params=[0, 2, 3], ids=lambda o: f"O{o}")
def compiled(request):
    funcs = [c[:5] for c in QUIETING] + [c[:5] for c in PRESERVING]
    engine = Engine(Config(cache=False, opt_level=request.param))
    return engine, engine.compile(module(funcs, memory=True))


@pytest.fixture
def instance(compiled):
    """A fresh instance per test (the cases store to its memory); the code is compiled once."""
    engine, code = compiled
    return engine.instantiate(code, {})


@pytest.mark.parametrize("case", QUIETING, ids=[c[0] for c in QUIETING])
def test_signalling_nan_is_quieted(instance, case):
    name, params, _, _, _ = case
    is32 = params[0] == F32
    (r,) = instance.exports[name].call_raw([SNAN32 if is32 else SNAN64])
    quiet = 0x7FC00000 if is32 else 0x7FF8000000000000
    assert r & quiet == quiet, f"{name}: {r:#x} is not an arithmetic NaN"


@pytest.mark.parametrize("case", PRESERVING, ids=[c[0] for c in PRESERVING])
def test_nan_bits_are_preserved(instance, case):
    name, params, _, _, _, expect = case
    for x in ((SNAN32, 0xFFA00001, 0x7FC00000) if params[0] == F32 else (SNAN64, 0xFFF0000000000001)):
        (r,) = instance.exports[name].call_raw([x])
        assert r == expect(x), f"{name}({x:#x}) = {r:#x}, expected {expect(x):#x}"
