"""Fixed-width SIMD (v128) instructions as LLVM vector IR.

A v128 value travels between instructions as ``<2 x i64>`` (``V128``); each handler
bitcasts it to its shape's vector type (``<16 x i8>`` … ``<2 x double>``) and back.
Handlers are built from the opcode names in ``opcodes.py``: ``shape.op_suffix``.

Wasm semantics LLVM does not give for free (as in numeric.py): shift counts are taken
modulo the lane width, swizzle lanes out of range give 0, float ``min``/``max`` use
``llvm.minimum``/``llvm.maximum`` and take a NaN result from an ``fadd`` (a quiet NaN),
``trunc_sat`` uses ``llvm.fpto[su]i.sat``, ``demote`` quiets through ``llvm.canonicalize``.
NaN bits under optimisation (numeric.py's rule): a constant's lanes may be read as floats, so
every v128 constant, and a splat or lane replacement of a literal, reaches LLVM through the
empty asm barrier: ``f32x4.mul x, (v128.const f32x4 1 1 1 1)`` must not fold to ``x``.
"""
from __future__ import annotations

import functools
import platform

from ..binary import opcodes as op
from . import memory
from .memory import effective_address
from .numeric import hidden_vector, opaque

V128 = "<2 x i64>"
# shape: (lane IR type, lane count)
SHAPES = {"i8x16": ("i8", 16), "i16x8": ("i16", 8), "i32x4": ("i32", 4), "i64x2": ("i64", 2),
          "f32x4": ("float", 4), "f64x2": ("double", 2)}
_BITS = {"i8": 8, "i16": 16, "i32": 32, "i64": 64, "float": 32, "double": 64}
_INT_OF_WIDTH = {8: "i8", 16: "i16", 32: "i32", 64: "i64"}
_SUFFIX = {"i8": "i8", "i16": "i16", "i32": "i32", "i64": "i64", "float": "f32", "double": "f64"}


def vtype(lane: str, n: int) -> str:
    return f"<{n} x {lane}>"


def vsuffix(lane: str, n: int) -> str:
    """The intrinsic name suffix of a vector type, e.g. ``v16i8``."""
    return f"v{n}{_SUFFIX[lane]}"


def _shape(name: str) -> tuple[str, int]:
    return SHAPES[name.partition(".")[0]]


def pop_as(fx, lane: str, n: int) -> str:
    v = fx.pop()
    t = vtype(lane, n)
    return v if t == V128 else fx.value(f"bitcast {V128} {v} to {t}")


def push_vec(fx, v: str, lane: str, n: int) -> None:
    t = vtype(lane, n)
    fx.push(v if t == V128 else fx.value(f"bitcast {t} {v} to {V128}"), V128)


def _mask(indices) -> str:
    return "<" + ", ".join(f"i32 {i}" for i in indices) + ">"


def _splat_value(fx, scalar: str, lane: str, n: int) -> str:
    t = vtype(lane, n)
    one = fx.value(f"insertelement {t} poison, {lane} {scalar}, i32 0")
    return fx.value(f"shufflevector {t} {one}, {t} poison, <{n} x i32> zeroinitializer")


def _const_vec(lane: str, n: int, value: int) -> str:
    return "<" + ", ".join(f"{lane} {value}" for _ in range(n)) + ">"


def _to_lane(fx, scalar: str, lane: str) -> str:
    """A scalar operand (i32 for i8/i16 lanes) as the lane type."""
    if lane in ("i8", "i16"):
        return fx.value(f"trunc i32 {scalar} to {lane}")
    return scalar


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


# --- constants, lanes, shuffles -------------------------------------------------------------

def _const(fx, code, imm):
    lo, hi = imm & (2**64 - 1), imm >> 64
    fx.push(hidden_vector(fx, V128, f"<i64 {_signed(lo, 64)}, i64 {_signed(hi, 64)}>"), V128)


def _hide_literal(fx, scalar: str) -> None:
    """A vector built from a literal is hidden like a constant (see the module docstring)."""
    if not scalar.startswith("%"):
        fx.push(opaque(fx, fx.pop(), V128), V128)


def _splat(fx, code, imm):
    lane, n = _shape(op.NAME[code])
    scalar = fx.pop()
    if not scalar.startswith("%") and lane.startswith("i"):
        # an integer literal: the constant vector itself, hidden (float scalars are SSA values)
        bits = _BITS[lane]
        value = _signed(int(scalar) & ((1 << bits) - 1), bits)
        push_vec(fx, hidden_vector(fx, vtype(lane, n), _const_vec(lane, n, value)), lane, n)
        return
    push_vec(fx, _splat_value(fx, _to_lane(fx, scalar, lane), lane, n), lane, n)


def _extract_lane(fx, code, imm):
    name = op.NAME[code]
    lane, n = _shape(name)
    v = pop_as(fx, lane, n)
    e = fx.value(f"extractelement {vtype(lane, n)} {v}, i32 {imm}")
    if name.endswith("_s"):
        fx.push(fx.value(f"sext {lane} {e} to i32"), "i32")
    elif name.endswith("_u"):
        fx.push(fx.value(f"zext {lane} {e} to i32"), "i32")
    else:
        fx.push(e, lane)


def _replace_lane(fx, code, imm):
    lane, n = _shape(op.NAME[code])
    scalar = fx.pop()
    x = _to_lane(fx, scalar, lane)
    v = pop_as(fx, lane, n)
    push_vec(fx, fx.value(f"insertelement {vtype(lane, n)} {v}, {lane} {x}, i32 {imm}"), lane, n)
    _hide_literal(fx, scalar)


def _shuffle(fx, code, imm):
    b = pop_as(fx, "i8", 16)
    a = pop_as(fx, "i8", 16)
    push_vec(fx, fx.value(f"shufflevector <16 x i8> {a}, <16 x i8> {b}, <16 x i32> {_mask(imm)}"), "i8", 16)


@functools.cache
def host_flags() -> frozenset[str]:
    """The CPU feature flags of an x86-64 host (/proc/cpuinfo), empty on any other machine.

    The code is compiled for the host CPU (runner/jit.py) and the code cache key has these
    flags, so the translation may pick instructions by them."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return frozenset()
    try:
        with open("/proc/cpuinfo") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return frozenset()
    return frozenset(line.partition(":")[2].split())


def host_has_pshufb() -> bool:
    """x86-64 with SSSE3: swizzle can be one ``pshufb``."""
    return "ssse3" in host_flags()


def _swizzle(fx, code, imm):
    s = pop_as(fx, "i8", 16)
    a = pop_as(fx, "i8", 16)
    if host_has_pshufb():
        # pshufb zeroes a lane whose index has bit 7 set and otherwise uses its low 4 bits:
        # adding 0x70 with saturation keeps 0..15 below 0x80 and sends 16..255 to 0x80 and up.
        idx = fx.value(f"call <16 x i8> @llvm.uadd.sat.v16i8(<16 x i8> {s}, <16 x i8> {_const_vec('i8', 16, 0x70)})")
        push_vec(fx, fx.value(f"call <16 x i8> @llvm.x86.ssse3.pshuf.b.128(<16 x i8> {a}, <16 x i8> {idx})"), "i8", 16)
        return
    idx = fx.value(f"and <16 x i8> {s}, {_const_vec('i8', 16, 15)}")
    out = "poison"
    for i in range(16):
        k = fx.value(f"extractelement <16 x i8> {idx}, i32 {i}")
        e = fx.value(f"extractelement <16 x i8> {a}, i8 {k}")
        out = fx.value(f"insertelement <16 x i8> {out}, i8 {e}, i32 {i}")
    inside = fx.value(f"icmp ult <16 x i8> {s}, {_const_vec('i8', 16, 16)}")
    push_vec(fx, fx.value(f"select <16 x i1> {inside}, <16 x i8> {out}, <16 x i8> zeroinitializer"), "i8", 16)


# --- bitwise and tests ----------------------------------------------------------------------

def _not(fx, code, imm):
    a = fx.pop()
    fx.push(fx.value(f"xor {V128} {a}, <i64 -1, i64 -1>"), V128)


def _bitwise(fx, code, imm):
    b = fx.pop()
    a = fx.pop()
    inst = op.NAME[code].partition(".")[2]
    if inst == "andnot":
        b = fx.value(f"xor {V128} {b}, <i64 -1, i64 -1>")
        inst = "and"
    fx.push(fx.value(f"{inst} {V128} {a}, {b}"), V128)


def _bitselect(fx, code, imm):
    c = fx.pop()
    b = fx.pop()
    a = fx.pop()
    x = fx.value(f"xor {V128} {a}, {b}")
    x = fx.value(f"and {V128} {x}, {c}")
    fx.push(fx.value(f"xor {V128} {x}, {b}"), V128)      # (a & c) | (b & ~c)


def _any_true(fx, code, imm):
    a = fx.value(f"bitcast {V128} {fx.pop()} to i128")
    fx.push(fx.value(f"zext i1 {fx.value(f'icmp ne i128 {a}, 0')} to i32"), "i32")


def _lane_bits(fx, a: str, lane: str, n: int, pred: str) -> str:
    """The ``icmp pred lane, 0`` of every lane, as an ``i<n>`` bit mask."""
    m = fx.value(f"icmp {pred} {vtype(lane, n)} {a}, zeroinitializer")
    return fx.value(f"bitcast <{n} x i1> {m} to i{n}")


def _all_true(fx, code, imm):
    lane, n = _shape(op.NAME[code])
    bits = _lane_bits(fx, pop_as(fx, lane, n), lane, n, "ne")
    fx.push(fx.value(f"zext i1 {fx.value(f'icmp eq i{n} {bits}, -1')} to i32"), "i32")


def _bitmask(fx, code, imm):
    lane, n = _shape(op.NAME[code])
    bits = _lane_bits(fx, pop_as(fx, lane, n), lane, n, "slt")
    fx.push(fx.value(f"zext i{n} {bits} to i32"), "i32")


# --- comparisons ----------------------------------------------------------------------------

_ICMP = {"eq": "eq", "ne": "ne", "lt_s": "slt", "lt_u": "ult", "gt_s": "sgt", "gt_u": "ugt",
         "le_s": "sle", "le_u": "ule", "ge_s": "sge", "ge_u": "uge"}
_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "gt": "ogt", "le": "ole", "ge": "oge"}


def _compare(fx, code, imm):
    shape, _, rest = op.NAME[code].partition(".")
    lane, n = SHAPES[shape]
    b = pop_as(fx, lane, n)
    a = pop_as(fx, lane, n)
    if lane in ("float", "double"):
        c = fx.value(f"fcmp {_FCMP[rest]} {vtype(lane, n)} {a}, {b}")
        lane = _INT_OF_WIDTH[_BITS[lane]]
    else:
        c = fx.value(f"icmp {_ICMP[rest]} {vtype(lane, n)} {a}, {b}")
    push_vec(fx, fx.value(f"sext <{n} x i1> {c} to {vtype(lane, n)}"), lane, n)


# --- integer arithmetic ---------------------------------------------------------------------

_INT_BINARY = {"add": "add", "sub": "sub", "mul": "mul"}
_INT_INTRINSIC2 = {"add_sat_s": "sadd.sat", "add_sat_u": "uadd.sat", "sub_sat_s": "ssub.sat",
                   "sub_sat_u": "usub.sat", "min_s": "smin", "min_u": "umin", "max_s": "smax",
                   "max_u": "umax"}


def _binary_operands(fx, code):
    """(operation name, lane type, lane count, vector type, a, b) of a lane-wise binary op."""
    shape, _, rest = op.NAME[code].partition(".")
    lane, n = SHAPES[shape]
    b = pop_as(fx, lane, n)
    a = pop_as(fx, lane, n)
    return rest, lane, n, vtype(lane, n), a, b


def _int_binary(fx, code, imm):
    rest, lane, n, t, a, b = _binary_operands(fx, code)
    if rest in _INT_BINARY:
        r = fx.value(f"{_INT_BINARY[rest]} {t} {a}, {b}")
    else:
        r = fx.value(f"call {t} @llvm.{_INT_INTRINSIC2[rest]}.{vsuffix(lane, n)}({t} {a}, {t} {b})")
    push_vec(fx, r, lane, n)


def _shift(fx, code, imm):
    shape, _, rest = op.NAME[code].partition(".")
    lane, n = SHAPES[shape]
    count = fx.value(f"and i32 {fx.pop()}, {_BITS[lane] - 1}")
    if lane == "i64":
        count = fx.value(f"zext i32 {count} to i64")
    elif lane != "i32":
        count = fx.value(f"trunc i32 {count} to {lane}")
    a = pop_as(fx, lane, n)
    inst = {"shl": "shl", "shr_s": "ashr", "shr_u": "lshr"}[rest]
    push_vec(fx, fx.value(f"{inst} {vtype(lane, n)} {a}, {_splat_value(fx, count, lane, n)}"), lane, n)


def _unary_operand(fx, code):
    """(operation name, lane type, lane count, vector type, a) of a lane-wise unary op."""
    shape, _, rest = op.NAME[code].partition(".")
    lane, n = SHAPES[shape]
    return rest, lane, n, vtype(lane, n), pop_as(fx, lane, n)


def _int_unary(fx, code, imm):
    rest, lane, n, t, a = _unary_operand(fx, code)
    if rest == "neg":
        r = fx.value(f"sub {t} zeroinitializer, {a}")
    elif rest == "abs":
        r = fx.value(f"call {t} @llvm.abs.{vsuffix(lane, n)}({t} {a}, i1 false)")
    else:  # popcnt
        r = fx.value(f"call {t} @llvm.ctpop.{vsuffix(lane, n)}({t} {a})")
    push_vec(fx, r, lane, n)


def _avgr(fx, code, imm):
    lane, n = _shape(op.NAME[code])
    wide = _INT_OF_WIDTH[2 * _BITS[lane]]
    t, wt = vtype(lane, n), vtype(wide, n)
    b = fx.value(f"zext {t} {pop_as(fx, lane, n)} to {wt}")
    a = fx.value(f"zext {t} {pop_as(fx, lane, n)} to {wt}")
    s = fx.value(f"add {wt} {a}, {b}")
    s = fx.value(f"add {wt} {s}, {_const_vec(wide, n, 1)}")
    s = fx.value(f"lshr {wt} {s}, {_const_vec(wide, n, 1)}")
    push_vec(fx, fx.value(f"trunc {wt} {s} to {t}"), lane, n)


def _half(fx, v: str, lane: str, n: int, high: bool) -> str:
    """The low or high half of a vector's lanes."""
    start = n // 2 if high else 0
    t = vtype(lane, n)
    return fx.value(f"shufflevector {t} {v}, {t} poison, <{n // 2} x i32> {_mask(range(start, start + n // 2))}")


def _source_shape(name: str) -> tuple[str, int]:
    """The shape of the operands of a widening instruction, e.g. ``..._i8x16_s`` -> i8 x 16."""
    for part in name.split("_"):
        if part in SHAPES:
            return SHAPES[part]
    raise AssertionError(name)


def _extend(fx, code, imm):
    name = op.NAME[code]
    lane, n = _source_shape(name)
    wide, _ = _shape(name)
    half = _half(fx, pop_as(fx, lane, n), lane, n, "high" in name)
    ext = "sext" if name.endswith("_s") else "zext"
    push_vec(fx, fx.value(f"{ext} {vtype(lane, n // 2)} {half} to {vtype(wide, n // 2)}"), wide, n // 2)


def _extmul(fx, code, imm):
    name = op.NAME[code]
    lane, n = _source_shape(name)
    wide, m = _shape(name)
    ext = "sext" if name.endswith("_s") else "zext"
    high = "high" in name
    b = _half(fx, pop_as(fx, lane, n), lane, n, high)
    a = _half(fx, pop_as(fx, lane, n), lane, n, high)
    a = fx.value(f"{ext} {vtype(lane, m)} {a} to {vtype(wide, m)}")
    b = fx.value(f"{ext} {vtype(lane, m)} {b} to {vtype(wide, m)}")
    push_vec(fx, fx.value(f"mul {vtype(wide, m)} {a}, {b}"), wide, m)


def _pairwise_add(fx, v: str, lane: str, n: int) -> str:
    """Lanes 2i and 2i+1 of an n-lane vector added: n/2 lanes."""
    t = vtype(lane, n)
    even = fx.value(f"shufflevector {t} {v}, {t} poison, <{n // 2} x i32> {_mask(range(0, n, 2))}")
    odd = fx.value(f"shufflevector {t} {v}, {t} poison, <{n // 2} x i32> {_mask(range(1, n, 2))}")
    return fx.value(f"add {vtype(lane, n // 2)} {even}, {odd}")


def _extadd_pairwise(fx, code, imm):
    name = op.NAME[code]
    lane, n = _source_shape(name)
    wide, m = _shape(name)
    ext = "sext" if name.endswith("_s") else "zext"
    a = fx.value(f"{ext} {vtype(lane, n)} {pop_as(fx, lane, n)} to {vtype(wide, n)}")
    push_vec(fx, _pairwise_add(fx, a, wide, n), wide, m)


def _dot(fx, code, imm):
    b = fx.value(f"sext <8 x i16> {pop_as(fx, 'i16', 8)} to <8 x i32>")
    a = fx.value(f"sext <8 x i16> {pop_as(fx, 'i16', 8)} to <8 x i32>")
    p = fx.value(f"mul <8 x i32> {a}, {b}")
    push_vec(fx, _pairwise_add(fx, p, "i32", 8), "i32", 4)


def _clamp(fx, v: str, lane: str, n: int, lo: int, hi: int) -> str:
    t = vtype(lane, n)
    v = fx.value(f"call {t} @llvm.smax.{vsuffix(lane, n)}({t} {v}, {t} {_const_vec(lane, n, lo)})")
    return fx.value(f"call {t} @llvm.smin.{vsuffix(lane, n)}({t} {v}, {t} {_const_vec(lane, n, hi)})")


def _q15mulr(fx, code, imm):
    b = fx.value(f"sext <8 x i16> {pop_as(fx, 'i16', 8)} to <8 x i32>")
    a = fx.value(f"sext <8 x i16> {pop_as(fx, 'i16', 8)} to <8 x i32>")
    p = fx.value(f"mul <8 x i32> {a}, {b}")
    p = fx.value(f"add <8 x i32> {p}, {_const_vec('i32', 8, 0x4000)}")
    p = fx.value(f"ashr <8 x i32> {p}, {_const_vec('i32', 8, 15)}")
    p = _clamp(fx, p, "i32", 8, -0x8000, 0x7FFF)
    push_vec(fx, fx.value(f"trunc <8 x i32> {p} to <8 x i16>"), "i16", 8)


def _narrow(fx, code, imm):
    name = op.NAME[code]
    lane, n = _source_shape(name)
    narrow, m = _shape(name)
    bits = _BITS[narrow]
    b = pop_as(fx, lane, n)
    a = pop_as(fx, lane, n)
    both = fx.value(f"shufflevector {vtype(lane, n)} {a}, {vtype(lane, n)} {b}, <{m} x i32> {_mask(range(m))}")
    if name.endswith("_s"):
        both = _clamp(fx, both, lane, m, -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    else:
        both = _clamp(fx, both, lane, m, 0, (1 << bits) - 1)
    push_vec(fx, fx.value(f"trunc {vtype(lane, m)} {both} to {vtype(narrow, m)}"), narrow, m)


# --- float arithmetic -----------------------------------------------------------------------

_FLOAT_BINARY = {"add": "fadd", "sub": "fsub", "mul": "fmul", "div": "fdiv"}
_FLOAT_UNARY = {"sqrt": "sqrt", "ceil": "ceil", "floor": "floor", "trunc": "trunc",
                "nearest": "roundeven", "abs": "fabs"}


def _float_binary(fx, code, imm):
    rest, lane, n, t, a, b = _binary_operands(fx, code)
    if rest in _FLOAT_BINARY:
        r = fx.value(f"{_FLOAT_BINARY[rest]} {t} {a}, {b}")
    elif rest in ("pmin", "pmax"):   # pmin: b < a ? b : a; pmax: a < b ? b : a
        c = fx.value(f"fcmp olt {t} {b}, {a}" if rest == "pmin" else f"fcmp olt {t} {a}, {b}")
        r = fx.value(f"select <{n} x i1> {c}, {t} {b}, {t} {a}")
    else:
        intr = "minimum" if rest == "min" else "maximum"
        r = fx.value(f"call {t} @llvm.{intr}.{vsuffix(lane, n)}({t} {a}, {t} {b})")
        uno = fx.value(f"fcmp uno {t} {a}, {b}")      # a NaN result: quiet, from an fadd
        q = fx.value(f"fadd {t} {a}, {b}")
        r = fx.value(f"select <{n} x i1> {uno}, {t} {q}, {t} {r}")
    push_vec(fx, r, lane, n)


def _float_unary(fx, code, imm):
    rest, lane, n, t, a = _unary_operand(fx, code)
    if rest == "neg":
        r = fx.value(f"fneg {t} {a}")
    else:
        r = fx.value(f"call {t} @llvm.{_FLOAT_UNARY[rest]}.{vsuffix(lane, n)}({t} {a})")
    push_vec(fx, r, lane, n)


# --- conversions ----------------------------------------------------------------------------

def _trunc_sat(fx, code, imm):
    name = op.NAME[code]
    intr = "fptosi" if name.endswith(("_s", "_s_zero")) else "fptoui"
    if "f64x2" in name:
        a = pop_as(fx, "double", 2)
        r = fx.value(f"call <2 x i32> @llvm.{intr}.sat.v2i32.v2f64(<2 x double> {a})")
        r = fx.value(f"shufflevector <2 x i32> {r}, <2 x i32> zeroinitializer, <4 x i32> {_mask(range(4))}")
    else:
        a = pop_as(fx, "float", 4)
        r = fx.value(f"call <4 x i32> @llvm.{intr}.sat.v4i32.v4f32(<4 x float> {a})")
    push_vec(fx, r, "i32", 4)


def _convert(fx, code, imm):
    name = op.NAME[code]
    inst = "sitofp" if name.endswith("_s") else "uitofp"
    a = pop_as(fx, "i32", 4)
    if name.startswith("f64x2"):
        a = _half(fx, a, "i32", 4, False)
        push_vec(fx, fx.value(f"{inst} <2 x i32> {a} to <2 x double>"), "double", 2)
    else:
        push_vec(fx, fx.value(f"{inst} <4 x i32> {a} to <4 x float>"), "float", 4)


def _demote(fx, code, imm):
    # The conversion itself quiets a NaN; the barrier keeps LLVM from folding
    # demote(promote(x)) to x.  (A canonicalize after it would be narrowed to a v2f32
    # canonicalize when only two lanes are used, which x86 cannot select: LLVM aborts.)
    a = opaque(fx, pop_as(fx, "double", 2), "<2 x double>")
    r = fx.value(f"fptrunc <2 x double> {a} to <2 x float>")
    push_vec(fx, fx.value(f"shufflevector <2 x float> {r}, <2 x float> zeroinitializer, <4 x i32> {_mask(range(4))}"),
             "float", 4)


def _promote(fx, code, imm):
    a = _half(fx, pop_as(fx, "float", 4), "float", 4, False)
    r = fx.value(f"fpext <2 x float> {a} to <2 x double>")
    push_vec(fx, fx.value(f"call <2 x double> @llvm.canonicalize.v2f64(<2 x double> {r})"), "double", 2)


# --- memory ---------------------------------------------------------------------------------

def _load(fx, code, imm):
    rest = op.NAME[code].partition(".")[2]
    if rest == "load":
        ptr = effective_address(fx, fx.pop(), imm.offset, 16, imm.memory)
        fx.push(memory.load(fx, V128, ptr, imm.memory), V128)
        return
    digits = rest[4:].partition("_")[0]
    if "x" in digits:                                       # load8x8_s: 8 lanes, extended
        bits, n = map(int, digits.split("x"))
        lane = _INT_OF_WIDTH[bits]
        ptr = effective_address(fx, fx.pop(), imm.offset, 8, imm.memory)
        raw = memory.load(fx, vtype(lane, n), ptr, imm.memory)
        ext = "sext" if rest.endswith("_s") else "zext"
        wide = _INT_OF_WIDTH[2 * bits]
        push_vec(fx, fx.value(f"{ext} {vtype(lane, n)} {raw} to {vtype(wide, n)}"), wide, n)
        return
    bits = int(digits)
    lane, n = _INT_OF_WIDTH[bits], 128 // bits
    vec = pop_as(fx, lane, n) if rest.endswith("_lane") else None
    ptr = effective_address(fx, fx.pop(), imm.offset, bits // 8, imm.memory)
    x = memory.load(fx, lane, ptr, imm.memory)
    if rest.endswith("_splat"):
        r = _splat_value(fx, x, lane, n)
    elif rest.endswith("_zero"):
        r = fx.value(f"insertelement {vtype(lane, n)} zeroinitializer, {lane} {x}, i32 0")
    else:
        r = fx.value(f"insertelement {vtype(lane, n)} {vec}, {lane} {x}, i32 {imm.lane}")
    push_vec(fx, r, lane, n)


def _store(fx, code, imm):
    rest = op.NAME[code].partition(".")[2]
    if rest == "store":
        v = fx.pop()
        ptr = effective_address(fx, fx.pop(), imm.offset, 16, imm.memory)
        memory.store(fx, V128, v, ptr, imm.memory)
        return
    bits = int(rest[5:].partition("_")[0])
    lane, n = _INT_OF_WIDTH[bits], 128 // bits
    v = pop_as(fx, lane, n)
    x = fx.value(f"extractelement {vtype(lane, n)} {v}, i32 {imm.lane}")
    ptr = effective_address(fx, fx.pop(), imm.offset, bits // 8, imm.memory)
    memory.store(fx, lane, x, ptr, imm.memory)


# --- the dispatch table ---------------------------------------------------------------------

def _handler(name: str, kind: str):
    shape, _, rest = name.partition(".")
    if rest.startswith("relaxed_"):
        from . import relaxed        # relaxed.py builds on this module's helpers
        return relaxed.handler(name)
    opname = rest.split("_")[0]
    if kind in (op.MEMARG, op.MEMARG_LANE):
        return _load if rest.startswith("load") else _store
    fixed = {"v128.const": _const, "i8x16.shuffle": _shuffle, "i8x16.swizzle": _swizzle,
             "v128.not": _not, "v128.bitselect": _bitselect, "v128.any_true": _any_true,
             "i32x4.dot_i16x8_s": _dot, "i16x8.q15mulr_sat_s": _q15mulr,
             "f32x4.demote_f64x2_zero": _demote, "f64x2.promote_low_f32x4": _promote}
    if name in fixed:
        return fixed[name]
    if shape == "v128":
        return _bitwise
    by_op = {"splat": _splat, "extract": _extract_lane, "replace": _replace_lane,
             "all": _all_true, "bitmask": _bitmask, "shl": _shift, "shr": _shift,
             "avgr": _avgr, "extend": _extend, "extmul": _extmul, "extadd": _extadd_pairwise,
             "narrow": _narrow, "trunc": _trunc_sat if rest.startswith("trunc_sat") else None,
             "convert": _convert}
    fn = by_op.get(opname)
    if fn is not None:
        return fn
    lane, _ = SHAPES[shape]
    is_float = lane in ("float", "double")
    if opname in _FCMP and is_float or rest in _ICMP and not is_float:
        return _compare
    if is_float:
        return _float_unary if rest in _FLOAT_UNARY or rest == "neg" else _float_binary
    if rest in ("neg", "abs", "popcnt"):
        return _int_unary
    return _int_binary


def handlers() -> dict:
    """Opcode -> ``handler(fx, code, imm)`` for every SIMD instruction."""
    return {code: _handler(o.name, o.imm) for code, o in op.OPERATORS.items() if op.is_simd(code)}


def _declarations() -> list[str]:
    out = []
    ints = [("i8", 16), ("i16", 8), ("i32", 4), ("i64", 2), ("i32", 8)]
    for lane, n in ints:
        t, s = vtype(lane, n), vsuffix(lane, n)
        for intr in ("sadd.sat", "uadd.sat", "ssub.sat", "usub.sat", "smin", "umin", "smax", "umax"):
            out.append(f"declare {t} @llvm.{intr}.{s}({t}, {t})")
        out.append(f"declare {t} @llvm.abs.{s}({t}, i1)")
        out.append(f"declare {t} @llvm.ctpop.{s}({t})")
    for lane, n in (("float", 4), ("double", 2)):
        t, s = vtype(lane, n), vsuffix(lane, n)
        for intr in ("minimum", "maximum"):
            out.append(f"declare {t} @llvm.{intr}.{s}({t}, {t})")
        for intr in ("sqrt", "ceil", "floor", "trunc", "roundeven", "fabs"):
            out.append(f"declare {t} @llvm.{intr}.{s}({t})")
    for intr in ("fptosi", "fptoui"):
        out.append(f"declare <4 x i32> @llvm.{intr}.sat.v4i32.v4f32(<4 x float>)")
        out.append(f"declare <2 x i32> @llvm.{intr}.sat.v2i32.v2f64(<2 x double>)")
    out.append("declare <4 x float> @llvm.canonicalize.v4f32(<4 x float>)")
    if host_has_pshufb():
        out.append("declare <16 x i8> @llvm.x86.ssse3.pshuf.b.128(<16 x i8>, <16 x i8>)")
    out.append("declare <2 x double> @llvm.canonicalize.v2f64(<2 x double>)")
    return out


DECLARATIONS = "\n".join(_declarations())
