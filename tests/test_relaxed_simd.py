"""Relaxed SIMD (WebAssembly 3.0, 0xFD 0x100-0x113): decoding, validation and the results.

A relaxed instruction may give any of the results in the spec's list ``relaxed(R)[A0, A1, ...]``
for its operator; runner/translate/relaxed.py fixes R per operator (``relaxed.choices()``). Here:
the spectest3 relaxed scripts (an ``either`` result accepts any listed value); a Python model of
every operator for every R, run with this host's choices on edge-case and random inputs, bit for
bit, at -O0 and -O2 (a function must not change results when it tiers up), and again with the
fallback lowering (no CPU flags); the x86 instructions in the native code; and a C program built
with ``zig cc -mrelaxed-simd`` whose output must match wasmtime's.
"""
from __future__ import annotations

import importlib.util
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from runner.api import Config, Engine, validate
from runner.binary import opcodes as op
from runner.binary.decode import decode, iter_instructions
from runner.errors import DecodeError, ValidationError
from runner.translate import relaxed, simd
from .wat import wasm_tools_parse as assemble

REPO = Path(__file__).resolve().parents[1]
WASM_TOOLS = shutil.which("wasm-tools")
needs_wasm_tools = pytest.mark.skipif(WASM_TOOLS is None, reason="wasm-tools is not installed")

# export name -> (instruction, operand count)
OPS = {
    "swizzle": ("i8x16.relaxed_swizzle", 2),
    "trunc_s": ("i32x4.relaxed_trunc_f32x4_s", 1), "trunc_u": ("i32x4.relaxed_trunc_f32x4_u", 1),
    "trunc_s_zero": ("i32x4.relaxed_trunc_f64x2_s_zero", 1), "trunc_u_zero": ("i32x4.relaxed_trunc_f64x2_u_zero", 1),
    "madd32": ("f32x4.relaxed_madd", 3), "nmadd32": ("f32x4.relaxed_nmadd", 3),
    "madd64": ("f64x2.relaxed_madd", 3), "nmadd64": ("f64x2.relaxed_nmadd", 3),
    "laneselect8": ("i8x16.relaxed_laneselect", 3), "laneselect16": ("i16x8.relaxed_laneselect", 3),
    "laneselect32": ("i32x4.relaxed_laneselect", 3), "laneselect64": ("i64x2.relaxed_laneselect", 3),
    "min32": ("f32x4.relaxed_min", 2), "max32": ("f32x4.relaxed_max", 2),
    "min64": ("f64x2.relaxed_min", 2), "max64": ("f64x2.relaxed_max", 2),
    "q15mulr": ("i16x8.relaxed_q15mulr_s", 2),
    "dot": ("i16x8.relaxed_dot_i8x16_i7x16_s", 2), "dot_add": ("i32x4.relaxed_dot_i8x16_i7x16_add_s", 3),
}
MODULE = "(module\n" + "".join(
    f'  (func (export "{name}") (param{" v128" * n}) (result v128) ({instr}'
    + "".join(f" (local.get {i})" for i in range(n)) + "))\n"
    for name, (instr, n) in OPS.items()) + ")"




def body_module(body: bytes) -> bytes:
    """A module with one ``(func)`` whose code is ``body`` (locals vector included)."""
    return (b"\0asm\1\0\0\0" + bytes([1, 4, 1, 0x60, 0, 0]) + bytes([3, 2, 1, 0])
            + bytes([10, len(body) + 2, 1, len(body)]) + body)


# --- the opcode table, the decoder and the validator ------------------------------------------

def test_opcode_rows():
    rows = [(c, n) for c, n, *_ in op.OPCODES if 0xFD00 + 0x100 <= c <= op.SIMD_LAST]
    assert [c - 0xFD00 for c, _ in rows] == list(range(0x100, 0x114))
    assert [n for _, n in rows] == [instr for instr, _ in OPS.values()]      # the spec's order
    assert op.CODE["i32x4.relaxed_dot_i8x16_i7x16_add_s"] == 0xFD00 + 0x113
    assert all(op.is_simd(c) for c, _ in rows) and not op.is_simd(0xFC00) and op.is_simd(0xFD00)


@needs_wasm_tools
def test_decode_and_validate(tmp_path):
    m = decode(assemble(MODULE, tmp_path))
    validate(m)
    names = []
    for body in m.bodies:
        names += [op.NAME[c] for _, c, _ in iter_instructions(m.raw, body.code_start, body.code_end)
                  if "relaxed" in op.NAME[c]]
    assert names == [instr for instr, _ in OPS.values()]


@needs_wasm_tools
@pytest.mark.parametrize("body", [
    "(f32x4.relaxed_madd (local.get 0) (local.get 0))",                  # three operands
    "(i32x4.relaxed_laneselect (local.get 0) (local.get 0) (i32.const 0))",
    "(i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get 0) (local.get 0))",
    "(i32x4.relaxed_trunc_f32x4_s (f32.const 1))",
    "(f64x2.relaxed_min (local.get 0) (i64.const 0))",
])
def test_operand_types_are_checked(body, tmp_path):
    wasm = assemble(f"(module (func (param v128) (result v128) {body}))", tmp_path)
    with pytest.raises(ValidationError, match="type mismatch"):
        validate(decode(wasm))


@pytest.mark.parametrize("sub", [0x114, 0x12F, 0x200])
def test_opcodes_past_relaxed_simd_are_illegal(sub):
    leb = bytes([0x80 | (sub & 0x7F), sub >> 7])
    with pytest.raises(DecodeError) as e:
        validate(decode(body_module(bytes([0x00, 0xFD]) + leb + bytes([0x0B]))))
    assert str(e.value).endswith(f"illegal opcode 0xfd {sub:#x}") and e.value.offset == 23


def test_a_2_0_decode_refuses_relaxed_simd():
    from runner.binary.features import WASM2
    # i8x16.relaxed_swizzle of two zero vectors, dropped
    zero = bytes([0xFD, 0x0C]) + bytes(16)
    body = bytes([0x00]) + zero + zero + bytes([0xFD, 0x80, 0x02, 0x1A, 0x0B])
    validate(decode(body_module(body)))
    with pytest.raises(DecodeError) as e:
        validate(decode(body_module(body), WASM2))
    assert str(e.value).endswith("illegal opcode 0xfd 0x100") and e.value.offset == 23 + 36


# --- the spectest3 relaxed scripts ------------------------------------------------------------

_spec = importlib.util.spec_from_file_location("wasirun_spectest", REPO / "scripts" / "spectest.py")
spectest = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, spectest)
_spec.loader.exec_module(spectest)
SPEC3 = REPO.parent / "shared" / "spectest3"
RELAXED_SCRIPTS = sorted(p for p in SPEC3.glob("*relaxed*") if p.is_dir()) if SPEC3.is_dir() else []


@pytest.mark.parametrize("opt_level", [0, 2], ids=["O0", "O2"])
def test_spectest3_relaxed_scripts(opt_level):
    """Through the spec harness's 3.0 suite (an ``either`` result accepts any listed value)."""
    if len(RELAXED_SCRIPTS) != 7:
        pytest.skip(f"no relaxed spec scripts in {SPEC3}")
    results = spectest.run_scripts([d / f"{d.name}.json" for d in RELAXED_SCRIPTS], jobs=2,
                                   opt_level=opt_level, suite="3.0", tier="top")
    assert [f for r in results for f in r.failures] == []
    assert sum(r.passed for r in results) == 77


# --- a model of every choice the spec allows ------------------------------------------------

def lanes(v: int, bits: int) -> list[int]:
    return [(v >> (bits * i)) & ((1 << bits) - 1) for i in range(128 // bits)]


def pack(values, bits: int) -> int:
    return sum((x & ((1 << bits) - 1)) << (bits * i) for i, x in enumerate(values))


def signed(x: int, bits: int) -> int:
    return x - (1 << bits) if x >> (bits - 1) else x


def to_float(u: int, bits: int) -> float:
    return struct.unpack("<f" if bits == 32 else "<d", u.to_bytes(bits // 8, "little"))[0]


def float_bits(x: float, bits: int) -> int:
    return int.from_bytes(struct.pack("<f" if bits == 32 else "<d", x), "little")


def round_float(q: Fraction, bits: int) -> float:
    """``q`` rounded to the nearest f32/f64 (ties to even); finite inputs of moderate size."""
    if bits == 64:
        return float(q)
    if q == 0:
        return 0.0
    sign, q = (-1 if q < 0 else 1), abs(q)
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    ulp = Fraction(2) ** max(e - 23, -149)
    n, rem = divmod(q, ulp)
    if rem > ulp / 2 or rem == ulp / 2 and n % 2:
        n += 1
    return sign * float(n * ulp)


NAN = None      # a lane the model only knows is some NaN


def model_trunc(x: float, unsigned: bool, r: int) -> int:
    lo, hi = (0, 2**32) if unsigned else (-2**31, 2**31)
    if not (math.isnan(x) or math.isinf(x)) and lo <= math.trunc(x) < hi:
        return math.trunc(x)
    if r == 0:                                       # trunc_sat
        return 0 if math.isnan(x) else lo if x < 0 else hi - 1
    return [None, 2**32 - 1, 2**32 - 2, 2**31][r] if unsigned else -2**31


def model_madd(a: float, b: float, c: float, bits: int, r: int):
    if any(math.isnan(x) for x in (a, b, c)):
        return NAN
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    if r == 0:
        p = round_float(Fraction(a) * Fraction(b), bits)
        if p == 0:                                   # a zero product keeps the product's sign
            p = math.copysign(0.0, math.copysign(1, a) * math.copysign(1, b))
        if p == 0 and c == 0:                        # the sign of a zero sum
            return -0.0 if math.copysign(1, p) < 0 and math.copysign(1, c) < 0 else 0.0
        return round_float(Fraction(p) + Fraction(c), bits)
    if exact == 0:
        neg = a * b == 0 and c == 0 and math.copysign(1, a) * math.copysign(1, b) < 0 and math.copysign(1, c) < 0
        return -0.0 if neg else 0.0
    return round_float(exact, bits)


def model_min_max(z1: int, z2: int, bits: int, is_min: bool, r: int):
    """frelaxed_min / frelaxed_max on raw bits (the spec's lists, index r)."""
    x1, x2 = to_float(z1, bits), to_float(z2, bits)
    sign = 1 << (bits - 1)
    if math.isnan(x1):
        return [NAN, z1, z2, z2][r]
    if math.isnan(x2):
        return [NAN, z1, z2, z1][r]
    if x1 == 0 and x2 == 0 and (z1 ^ z2) & sign:
        return [sign if is_min else 0, z1, z2, sign if is_min else 0][r]
    if x1 == x2:
        return z1
    return z1 if (x1 < x2) == is_min else z2


def sat16(x: int) -> int:
    return max(-32768, min(32767, x))


def model(name: str, args: list[int], c: relaxed.Choices) -> list:
    """Expected lanes of export ``name`` (lane width from ``model_bits``; NAN = any NaN)."""
    if name == "swizzle":
        a, s = lanes(args[0], 8), lanes(args[1], 8)
        return [a[j] if j < 16 else 0 if j >= 128 or c.swizzle == 0 else a[j % 16] for j in s]
    if name.startswith("trunc"):
        wide = name.endswith("zero")
        xs = [to_float(u, 64 if wide else 32) for u in lanes(args[0], 64 if wide else 32)]
        r = c.trunc_u if "_u" in name else c.trunc_s
        out = [model_trunc(x, "_u" in name, r) & 0xFFFFFFFF for x in xs]
        return out + [0, 0] if wide else out
    if "madd" in name:
        bits = int(name[-2:])
        a, b, cc = ([to_float(u, bits) for u in lanes(v, bits)] for v in args)
        if name.startswith("n"):
            a = [-x for x in a]
        out = [model_madd(x, y, z, bits, c.fmadd) for x, y, z in zip(a, b, cc)]
        return [NAN if v is NAN else float_bits(v, bits) for v in out]
    if name.startswith("laneselect"):
        bits = int(name[10:])
        a, b, m = (lanes(v, bits) for v in args)
        if c.laneselect == 0:
            return [(x & k) | (y & ~k & ((1 << bits) - 1)) for x, y, k in zip(a, b, m)]
        return [x if k >> (bits - 1) else y for x, y, k in zip(a, b, m)]
    if name[:3] in ("min", "max"):
        bits = int(name[3:])
        r = c.fmin if name.startswith("min") else c.fmax
        return [model_min_max(x, y, bits, name.startswith("min"), r)
                for x, y in zip(lanes(args[0], bits), lanes(args[1], bits))]
    if name == "q15mulr":
        a, b = ([signed(x, 16) for x in lanes(v, 16)] for v in args)
        return [(-32768 if x == y == -32768 and c.iq15mulr else sat16((x * y + 0x4000) >> 15)) & 0xFFFF
                for x, y in zip(a, b)]
    a = [signed(x, 8) for x in lanes(args[0], 8)]
    b = [x if c.idot else signed(x, 8) for x in lanes(args[1], 8)]
    pairs = [sat16(a[2 * i] * b[2 * i] + a[2 * i + 1] * b[2 * i + 1]) for i in range(8)]
    if name == "dot":
        return [p & 0xFFFF for p in pairs]
    acc = lanes(args[2], 32)
    return [(pairs[2 * i] + pairs[2 * i + 1] + acc[i]) & 0xFFFFFFFF for i in range(4)]


def model_bits(name: str) -> int:
    if name == "swizzle" or name == "laneselect8":
        return 8
    if name in ("q15mulr", "dot", "laneselect16"):
        return 16
    if name.endswith("64"):
        return 64
    return 32


def f32s(*xs) -> int:
    return pack([float_bits(x, 32) if isinstance(x, float) else x for x in xs], 32)


def f64s(*xs) -> int:
    return pack([float_bits(x, 64) if isinstance(x, float) else x for x in xs], 64)


INF, QNAN32, SNAN32, NNAN32 = math.inf, 0x7FC00000, 0x7FA00001, 0xFFC00000
QNAN64, SNAN64 = 0x7FF8000000000000, 0x7FF0000000000001
E23, E52 = 2.0 ** -23, 2.0 ** -52


def edge_cases(name: str) -> list[list[int]]:
    """Inputs where the spec leaves a choice (and some where it does not)."""
    if name == "swizzle":
        data = int.from_bytes(bytes(range(200, 216)), "little")
        return [[data, int.from_bytes(bytes(s), "little")] for s in
                ([0, 15, 16, 17, 31, 0x7F, 0x80, 0x8F, 0xF0, 0xFF, 1, 2, 112, 14, 13, 64], list(range(16, 32)))]
    if name in ("trunc_s", "trunc_u"):
        vals = [math.nan, -INF, INF, 2.0**31, -2.0**31, -2.0**31 - 256, 2147483520.0, 2.0**32, 4.0e9,
                -1.0, -0.5, 0.5, 1.5, 1e10, -1e10, -0.0, 1e-40, 4294967040.0, -0.99, 3.9]
        return [[f32s(*vals[i:i + 4])] for i in range(0, len(vals), 4)] + [[f32s(SNAN32, NNAN32, 0xFF800001, 0x7F800001)]]
    if name.startswith("trunc"):
        vals = [math.nan, INF, -INF, 2.0**31 - 0.5, -2.0**31 - 0.5, -2.0**31 - 1, 2.0**32 - 0.5, 2.0**32,
                -1.0, -0.99, 2.0**31, 1e300, 123.7, -123.7]
        return [[f64s(*vals[i:i + 2])] for i in range(0, len(vals), 2)] + [[f64s(SNAN64, 0xFFF8000000000000)]]
    if "madd" in name:
        if name.endswith("32"):
            # lane 0 (madd) and lane 1 (nmadd): fused ∓2^-46, unfused 0
            return [[f32s(1 + E23, 1 - E23, 3.0, 1e-3), f32s(1 - E23, 1 + E23, 7.0, 1e-3), f32s(-1.0, 1.0, -21.0, 1.0)],
                    [f32s(QNAN32, 2.0, -0.0, 0.0), f32s(1.0, SNAN32, -0.0, -0.0), f32s(1.0, 1.0, -0.0, 0.0)]]
        return [[f64s(1 + E52, 1 + E52), f64s(1 - E52, 1 - E52), f64s(-1.0, 1.0)],   # fused: ∓2^-104
                [f64s(QNAN64, -0.0), f64s(1.0, 0.0), f64s(2.0, -0.0)], [f64s(3.0, 1e-300), f64s(5.0, 1e-10), f64s(-0.0, 1.0)]]
    if name.startswith("laneselect"):
        a, b = int.from_bytes(bytes(range(0x10, 0x20)), "little"), int.from_bytes(bytes(range(0xE0, 0xF0)), "little")
        return [[a, b, int.from_bytes(bytes([0x80, 0x7F, 0xFF, 0x00, 0x0F, 0xF0, 0x01, 0xFE] * 2), "little")],
                [a, b, (1 << 128) - 1], [a, b, 0], [a, b, 0x80 << 120 | 0x7F << 56]]
    if name in ("min32", "max32"):
        return [[f32s(QNAN32, 1.0, 0.0, -0.0), f32s(2.0, NNAN32, -0.0, 0.0)],
                [f32s(SNAN32, -1.0, INF, -INF), f32s(SNAN32, 0x7F800001, -INF, 3.0)],
                [f32s(0.0, -0.0, 5.0, -5.0), f32s(0.0, -0.0, 5.0, 4.0)]]
    if name.startswith(("min", "max")):
        return [[f64s(QNAN64, 1.0), f64s(2.0, SNAN64)], [f64s(0.0, -0.0), f64s(-0.0, 0.0)], [f64s(-INF, 7.0), f64s(3.0, 7.5)]]
    if name == "q15mulr":
        return [[pack([-32768, -32768, 32767, -32768, 16384, -1, 0, 12345], 16),
                 pack([-32768, 32767, 32767, -32767, 16384, -1, -32768, -12345], 16)]]
    a = pack([-128, -128, 127, 127, -128, 1, 0, -1] * 2, 8)
    b = pack([0x81, 0x81, 0xFF, 0xFF, 0x7F, 0x80, 0x42, 0xC0] * 2, 8)
    return [[a, b, pack([1, -2, 2**31 - 1, 5], 32)][:OPS[name][1]]]


def random_inputs(name: str, rng: random.Random, count: int) -> list[list[int]]:
    n = OPS[name][1]
    out = []
    for _ in range(count):
        args = [rng.getrandbits(128) for _ in range(n)]
        if "madd" in name:      # finite operands of moderate size (the model's range)
            bits = int(name[-2:])
            args = [pack([float_bits(rng.uniform(-1e4, 1e4) * 2.0 ** rng.randint(-20, 20), bits)
                          for _ in range(128 // bits)], bits) for _ in range(3)]
        elif name.startswith("trunc"):
            bits = 64 if name.endswith("zero") else 32
            args = [pack([float_bits(rng.uniform(-1, 1) * 2.0 ** rng.randint(0, 40), bits) if rng.random() < 0.8
                          else rng.getrandbits(bits) for _ in range(128 // bits)], bits)]
        out.append(args)
    return out


def check(name: str, args: list[int], got: int, c: relaxed.Choices) -> None:
    bits = model_bits(name)
    expected = model(name, args, c)
    for i, (want, have) in enumerate(zip(expected, lanes(got, bits))):
        if want is NAN:
            assert math.isnan(to_float(have, bits)), (name, args, i, hex(have))
        else:
            assert have == want & ((1 << bits) - 1), (name, [hex(a) for a in args], i, hex(have), hex(want))


def all_inputs(name: str) -> list[list[int]]:
    return edge_cases(name) + random_inputs(name, random.Random(name), 60)


def run_all(wasm: bytes, opt_level: int) -> dict[str, list[int]]:
    """Every export on every input: name -> results (raw v128 bits)."""
    engine = Engine(Config(cache=False, opt_level=opt_level, tiering=False))
    try:
        inst = engine.instantiate(engine.compile(wasm), {})
        return {name: [inst.exports[name].call_raw(args)[0] for args in all_inputs(name)] for name in OPS}
    finally:
        engine.close()


@pytest.fixture(scope="module")
def wasm(tmp_path_factory):
    if WASM_TOOLS is None:
        pytest.skip("wasm-tools is not installed")
    return assemble(MODULE, tmp_path_factory.mktemp("relaxed"))


@pytest.fixture(scope="module")
def native_results(wasm):
    return {level: run_all(wasm, level) for level in (0, 2)}


def test_host_choices_are_the_documented_ones():
    c = relaxed.choices()
    f = simd.host_flags()
    assert (c.laneselect, c.fmin, c.fmax, c.idot) == (1, 1, 1, 1)
    assert c.swizzle == c.iq15mulr == int("ssse3" in f)
    assert c.trunc_s == int("sse2" in f) and c.fmadd == int("fma" in f)
    assert c.trunc_u == int("avx512f" in f and "avx512vl" in f)


@pytest.mark.parametrize("name", list(OPS))
def test_results_are_the_hosts_choice(name, native_results):
    """Each result is the spec's result for this host's R (so also an allowed one)."""
    c = relaxed.choices()
    for level in (0, 2):
        for args, got in zip(all_inputs(name), native_results[level][name]):
            check(name, args, got, c)


def test_the_tiers_agree_bit_for_bit(native_results):
    """NaN payloads included: a program must not see a difference when a function tiers up."""
    assert native_results[0] == native_results[2]


def test_fallback_lowering(wasm, monkeypatch):
    """A host without the CPU flags: the deterministic results where the choice needs them,
    the same at -O0 and -O2."""
    monkeypatch.setattr(relaxed, "host_flags", lambda: frozenset())
    monkeypatch.setattr(simd, "host_flags", lambda: frozenset())
    c = relaxed.choices()
    assert c == relaxed.Choices(swizzle=0, trunc_s=0, trunc_u=0, fmadd=0, laneselect=1, fmin=1, fmax=1,
                                iq15mulr=0, idot=1)
    results = {level: run_all(wasm, level) for level in (0, 2)}
    assert results[0] == results[2]
    for name in OPS:
        for args, got in zip(all_inputs(name), results[2][name]):
            check(name, args, got, c)


def test_the_model_tells_the_choices_apart():
    """The edge cases distinguish every R of every operator (else the tests above prove less)."""
    base = relaxed.choices()
    fields = {"swizzle": (["swizzle"], 2), "trunc_s": (["trunc_s", "trunc_s_zero"], 2),
              "trunc_u": (["trunc_u", "trunc_u_zero"], 4), "fmadd": (["madd32", "nmadd32", "madd64", "nmadd64"], 2),
              "laneselect": ([f"laneselect{b}" for b in (8, 16, 32, 64)], 2), "fmin": (["min32", "min64"], 4),
              "fmax": (["max32", "max64"], 4), "iq15mulr": (["q15mulr"], 2), "idot": (["dot", "dot_add"], 2)}
    for field, (names, count) in fields.items():
        for name in names:
            outs = set()
            for r in range(count):
                c = relaxed.Choices(**{**base.__dict__, field: r})
                outs.add(tuple(tuple(model(name, args, c)) for args in edge_cases(name)))
            assert len(outs) == count, (field, name)


# --- the native code --------------------------------------------------------------------------

NATIVE = {   # export -> instructions its code must contain (AVX forms have a "v" prefix)
    "swizzle": ["pshufb"], "trunc_s": ["cvttps2dq"], "trunc_u": ["cvttps2udq"], "trunc_s_zero": ["cvttpd2dq"],
    "trunc_u_zero": ["cvttpd2udq"], "madd32": ["vfmadd"], "nmadd32": ["vfn?madd"], "madd64": ["vfmadd"],
    "nmadd64": ["vfn?madd"], "laneselect8": ["pblendvb"], "laneselect16": ["(pblendvb|pmovw2m)"], "laneselect32": ["blendvps"],
    "laneselect64": ["blendvpd"], "min32": ["minps"], "max32": ["maxps"], "min64": ["minpd"], "max64": ["maxpd"],
    "q15mulr": ["pmulhrsw"], "dot": ["pmaddubsw"], "dot_add": ["pmaddubsw", "(pmaddwd|vpdpwssd)"],
}


@pytest.mark.parametrize("level", ["base", "O2"])
def test_native_instructions(level, wasm):
    if not {"ssse3", "sse4_1", "fma", "avx512f", "avx512vl"} <= simd.host_flags():
        pytest.skip("the x86-64 choices need SSSE3, SSE4.1, FMA and AVX-512VL")
    from runner import jit
    from runner.translate.module import translate_module
    m = decode(wasm)
    validate(m)
    text = jit.emit_assembly(translate_module(m, wrappers=False).text(), level)
    code: dict[str, list[str]] = {}
    name = None
    for line in text.splitlines():
        label = re.match(r"^w(\d+):", line)
        if label:
            name = list(OPS)[int(label.group(1))]
            code[name] = []
        elif name and line.startswith("\t") and not line.startswith("\t."):
            code[name].append(line.split()[0])
    assert set(code) == set(OPS)
    for name, wanted in NATIVE.items():
        for pattern in wanted:
            assert any(re.fullmatch(f"v?{pattern}\\w*", ins) for ins in code[name]), (name, code[name])
        assert not any(ins.startswith("call") for ins in code[name]), (name, code[name])   # no library call


# --- a C program: zig cc -msimd128 -mrelaxed-simd, against wasmtime ---------------------------

RELAXED_C = REPO / "tests" / "simd_programs" / "relaxed.c"
# choice printed by relaxed.c (stderr) -> the Choices field it reports
C_CHOICES = {"swizzle": "swizzle", "trunc_s": "trunc_s", "trunc_s_zero": "trunc_s", "trunc_u": "trunc_u",
             "trunc_u_zero": "trunc_u", "madd_f32": "fmadd", "nmadd_f32": "fmadd", "madd_f64": "fmadd",
             "laneselect8": "laneselect", "laneselect16": "laneselect", "laneselect32": "laneselect",
             "laneselect64": "laneselect", "min_f32": "fmin", "max_f32": "fmax", "min_f64": "fmin",
             "q15mulr": "iq15mulr", "dot": "idot", "dot_add": "idot"}


@pytest.fixture(scope="module")
def relaxed_program(tmp_path_factory) -> Path:
    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("ziglang (pip install ziglang) is not installed")
    out = tmp_path_factory.mktemp("zig-relaxed") / "relaxed.wasm"
    subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-wasi", "-O2", "-msimd128",
                    "-mrelaxed-simd", "-s", str(RELAXED_C), "-o", str(out)], check=True, capture_output=True, timeout=600)
    return out


def wasmtime_run(wasm: Path, tmp: Path) -> tuple[str, str]:
    wasmtime = pytest.importorskip("wasmtime")
    config = wasmtime.Config()
    config.wasm_relaxed_simd = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    wasi = wasmtime.WasiConfig()
    wasi.argv = [wasm.name]
    wasi.stdout_file, wasi.stderr_file = str(tmp / "out"), str(tmp / "err")
    store.set_wasi(wasi)
    linker.instantiate(store, wasmtime.Module.from_file(engine, str(wasm))).exports(store)["_start"](store)
    return (tmp / "out").read_text(), (tmp / "err").read_text()


def test_c_program_matches_wasmtime(relaxed_program, tmp_path):
    if WASM_TOOLS:
        text = subprocess.run([WASM_TOOLS, "print", str(relaxed_program)], capture_output=True, text=True).stdout
        for instr, _ in OPS.values():
            assert instr in text, instr                      # zig kept every relaxed instruction
    expected, their_choices = wasmtime_run(relaxed_program, tmp_path)
    assert expected.count(" allowed\n") == 18 and "NOT ALLOWED" not in expected
    c = relaxed.choices()
    env = dict(os.environ, WASIRUN_CACHE_DIR=str(tmp_path / "cache"))
    for opts in (["-O0"], ["--no-tiering"], []):             # first tier, top tier, tiering
        r = subprocess.run([sys.executable, "-m", "runner.cli", *opts, str(relaxed_program)],
                           capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
        assert r.returncode == 0, r.stderr
        assert r.stdout == expected, opts
        ours = dict(line.split()[1:] for line in r.stderr.splitlines() if line.startswith("choice "))
        assert ours == {k: str(getattr(c, f)) for k, f in C_CHOICES.items()}, opts
        assert "note:" not in r.stderr          # one choice per operator, whatever the shape
