"""Numeric instructions: comparisons, arithmetic, conversions, sign extension.

Every handler has the signature ``handler(fx, code)``; ``fx`` is the
FunctionTranslator (value stack, emit, traps).  The tables below are the single
place that says what each numeric opcode means in LLVM IR.

LLVM semantics that differ from wasm and are handled here (the classic list):
* integer division by zero, ``INT_MIN / -1`` and ``INT_MIN % -1`` are UB in LLVM:
  division traps are checked first, and ``rem_s`` divides by 1 when the divisor is -1;
* shift counts wrap in wasm, LLVM shifts by >= width are poison: counts are masked;
* ``ctlz``/``cttz`` of zero is defined (``is_zero_poison = false``);
* ``fptosi``/``fptoui`` of out-of-range values are poison: trapping truncation checks
  NaN and range first, the ``*_sat`` forms use LLVM's saturating intrinsics;
* ``min``/``max`` use ``llvm.minimum``/``llvm.maximum`` (NaN-propagating, -0 < +0),
  ``neg``/``abs``/``copysign`` are pure sign-bit operations, ``nearest`` is roundeven;
* no ``nsw``/``nuw`` flags anywhere: wasm integer arithmetic wraps.
"""
from __future__ import annotations

import platform

from ..errors import TrapKind
from ..layout import FCONST_SLOT, INVARIANT_LOAD

# --- NaN bits under optimisation -------------------------------------------------------------
# LLVM may propagate a NaN operand unchanged, so it folds x-0.0, x+(-0.0), x*1.0, x/1.0 to x,
# x*-1.0, x/-1.0, -0.0-x to fneg x, and fptrunc(fpext x) to x.  Wasm requires a *quiet* NaN
# from those operations when x is a signalling NaN (the hardware instructions do quiet it), so:
# * the identity constants (+-0.0, +-1.0) of f32.const/f64.const, of int->float conversions of
#   literals and of zero-initialised float locals reach LLVM through an empty inline-asm barrier:
#   LLVM cannot see their value, so it cannot fold the identity away;
# * v128 constants (v128.const, splats and lane replacements of literals, zero-initialised v128
#   locals) go through the same barrier: their lanes may be read as floats (runner/translate/simd.py);
# * f32.demote_f64 is followed by llvm.canonicalize (a quieting multiply by 1.0) unless its
#   operand is the direct result of a quieting float operation (then no fpext can be folded through).
_FLOAT_REG = {"x86_64": "x", "amd64": "x", "i386": "x", "i686": "x", "aarch64": "w", "arm64": "w"}.get(
    platform.machine().lower(), "r")


def is_identity_constant(t: str, bits: int) -> bool:
    # The identity constants are exactly what the runtime's @wr_fconsts table holds (layout.FCONSTS).
    return (t, bits) in FCONST_SLOT


def opaque_call(t: str, v: str) -> str:
    """The IR expression of ``opaque``: an empty asm in a float/vector register."""
    return f'call {t} asm "", "={_FLOAT_REG},0"({t} {v}) #1'


def opaque(fx, v: str, t: str) -> str:
    """``v`` unchanged, but hidden from LLVM's constant folding (no instruction is emitted)."""
    return fx.value(opaque_call(t, v))


def hidden_vector(fx, t: str, literal: str) -> str:
    """The vector constant ``literal`` (IR type ``t``) as LLVM cannot see it: an invariant load
    of a constant of the function's own that LLVM may not read (``externally_initialized``,
    FunctionTranslator.vector_constants).  What the asm barrier hides, hidden as well, but the
    load is hoisted out of loops and CSE'd like any constant: an asm is neither, so a constant
    inside a loop was made again, and whatever used it with it, on every iteration."""
    name = fx.vector_constants.get((t, literal))
    if name is None:
        name = fx.vector_constants[(t, literal)] = f"@vc.{fx.func_index}.{len(fx.vector_constants)}"
    return fx.value(f"load {t}, ptr {name}, align 16, {INVARIANT_LOAD}")


def hidden_constant(fx, t: str, bits: int) -> str:
    """An identity constant LLVM cannot see: an invariant load from the runtime's table.

    Unlike an asm barrier, the load is hoisted and CSE'd like any constant, so loops
    keep their shape; its value is still unknown at compile time, so ``x*1.0`` stays.
    """
    slot = fx.value(f"getelementptr i64, ptr @wr_fconsts, i32 {FCONST_SLOT[(t, bits)]}")
    return fx.value(f"load {t}, ptr {slot}, {INVARIANT_LOAD}")


def _is_literal(v: str) -> bool:
    return not v.startswith("%")

# --- comparisons ---------------------------------------------------------------------------

_ICMP = {  # code: (type, predicate)
    0x46: ("i32", "eq"), 0x47: ("i32", "ne"), 0x48: ("i32", "slt"), 0x49: ("i32", "ult"),
    0x4A: ("i32", "sgt"), 0x4B: ("i32", "ugt"), 0x4C: ("i32", "sle"), 0x4D: ("i32", "ule"),
    0x4E: ("i32", "sge"), 0x4F: ("i32", "uge"),
    0x51: ("i64", "eq"), 0x52: ("i64", "ne"), 0x53: ("i64", "slt"), 0x54: ("i64", "ult"),
    0x55: ("i64", "sgt"), 0x56: ("i64", "ugt"), 0x57: ("i64", "sle"), 0x58: ("i64", "ule"),
    0x59: ("i64", "sge"), 0x5A: ("i64", "uge"),
}
_FCMP = {  # ordered predicates, except ne which is true for NaN operands
    0x5B: ("float", "oeq"), 0x5C: ("float", "une"), 0x5D: ("float", "olt"), 0x5E: ("float", "ogt"),
    0x5F: ("float", "ole"), 0x60: ("float", "oge"),
    0x61: ("double", "oeq"), 0x62: ("double", "une"), 0x63: ("double", "olt"), 0x64: ("double", "ogt"),
    0x65: ("double", "ole"), 0x66: ("double", "oge"),
}


def _compare(fx, code):
    b = fx.pop()
    a = fx.pop()
    if code in _ICMP:
        t, pred = _ICMP[code]
        c = fx.value(f"icmp {pred} {t} {a}, {b}")
    else:
        t, pred = _FCMP[code]
        c = fx.value(f"fcmp {pred} {t} {a}, {b}")
    fx.push(fx.value(f"zext i1 {c} to i32"), "i32")


def _eqz(fx, code):
    t = "i32" if code == 0x45 else "i64"
    a = fx.pop()
    c = fx.value(f"icmp eq {t} {a}, 0")
    fx.push(fx.value(f"zext i1 {c} to i32"), "i32")


# --- integer arithmetic --------------------------------------------------------------------

_INT_BINARY = {  # code: (type, LLVM instruction)
    0x6A: ("i32", "add"), 0x6B: ("i32", "sub"), 0x6C: ("i32", "mul"),
    0x71: ("i32", "and"), 0x72: ("i32", "or"), 0x73: ("i32", "xor"),
    0x7C: ("i64", "add"), 0x7D: ("i64", "sub"), 0x7E: ("i64", "mul"),
    0x83: ("i64", "and"), 0x84: ("i64", "or"), 0x85: ("i64", "xor"),
}
_SHIFT = {0x74: ("i32", "shl"), 0x75: ("i32", "ashr"), 0x76: ("i32", "lshr"),
          0x86: ("i64", "shl"), 0x87: ("i64", "ashr"), 0x88: ("i64", "lshr")}
_ROTATE = {0x77: ("i32", "fshl"), 0x78: ("i32", "fshr"), 0x89: ("i64", "fshl"), 0x8A: ("i64", "fshr")}
_BIT_COUNT = {0x67: ("i32", "ctlz"), 0x68: ("i32", "cttz"), 0x69: ("i32", "ctpop"),
              0x79: ("i64", "ctlz"), 0x7A: ("i64", "cttz"), 0x7B: ("i64", "ctpop")}
_DIVISION = {0x6D: ("i32", "sdiv"), 0x6E: ("i32", "udiv"), 0x6F: ("i32", "srem"), 0x70: ("i32", "urem"),
             0x7F: ("i64", "sdiv"), 0x80: ("i64", "udiv"), 0x81: ("i64", "srem"), 0x82: ("i64", "urem")}
_INT_MIN = {"i32": str(-2**31), "i64": str(-2**63)}


def _int_binary(fx, code):
    t, inst = _INT_BINARY[code]
    b = fx.pop()
    a = fx.pop()
    fx.push(fx.value(f"{inst} {t} {a}, {b}"), t)


def _shift(fx, code):
    t, inst = _SHIFT[code]
    b = fx.pop()
    a = fx.pop()
    count = fx.value(f"and {t} {b}, {31 if t == 'i32' else 63}")
    fx.push(fx.value(f"{inst} {t} {a}, {count}"), t)


def _rotate(fx, code):
    t, intr = _ROTATE[code]
    b = fx.pop()
    a = fx.pop()
    # A funnel shift of a value with itself is a rotate; the amount is taken modulo the width.
    fx.push(fx.value(f"call {t} @llvm.{intr}.{t}({t} {a}, {t} {a}, {t} {b})"), t)


def _bit_count(fx, code):
    t, intr = _BIT_COUNT[code]
    a = fx.pop()
    extra = ", i1 false" if intr != "ctpop" else ""
    fx.push(fx.value(f"call {t} @llvm.{intr}.{t}({t} {a}{extra})"), t)


def _division(fx, code):
    t, inst = _DIVISION[code]
    b = fx.pop()
    a = fx.pop()
    fx.trap_if(fx.value(f"icmp eq {t} {b}, 0"), TrapKind.INTEGER_DIVIDE_BY_ZERO)
    if inst == "sdiv":
        is_min = fx.value(f"icmp eq {t} {a}, {_INT_MIN[t]}")
        is_m1 = fx.value(f"icmp eq {t} {b}, -1")
        fx.trap_if(fx.value(f"and i1 {is_min}, {is_m1}"), TrapKind.INTEGER_OVERFLOW)
    elif inst == "srem":
        # INT_MIN % -1 is UB in LLVM but 0 in wasm; x % 1 == 0 for every x.
        is_m1 = fx.value(f"icmp eq {t} {b}, -1")
        b = fx.value(f"select i1 {is_m1}, {t} 1, {t} {b}")
    fx.push(fx.value(f"{inst} {t} {a}, {b}"), t)


_SIGN_EXTEND = {0xC0: ("i32", "i8"), 0xC1: ("i32", "i16"),
                0xC2: ("i64", "i8"), 0xC3: ("i64", "i16"), 0xC4: ("i64", "i32")}


def _sign_extend(fx, code):
    t, narrow = _SIGN_EXTEND[code]
    a = fx.pop()
    n = fx.value(f"trunc {t} {a} to {narrow}")
    fx.push(fx.value(f"sext {narrow} {n} to {t}"), t)


# --- float arithmetic ----------------------------------------------------------------------

_FLOAT_BINARY = {
    0x92: ("float", "fadd"), 0x93: ("float", "fsub"), 0x94: ("float", "fmul"), 0x95: ("float", "fdiv"),
    0xA0: ("double", "fadd"), 0xA1: ("double", "fsub"), 0xA2: ("double", "fmul"), 0xA3: ("double", "fdiv"),
}
_FLOAT_INTRINSIC2 = {0x96: ("float", "minimum"), 0x97: ("float", "maximum"), 0x98: ("float", "copysign"),
                     0xA4: ("double", "minimum"), 0xA5: ("double", "maximum"), 0xA6: ("double", "copysign")}
_FLOAT_INTRINSIC1 = {0x8B: ("float", "fabs"), 0x8D: ("float", "ceil"), 0x8E: ("float", "floor"),
                     0x8F: ("float", "trunc"), 0x90: ("float", "roundeven"), 0x91: ("float", "sqrt"),
                     0x99: ("double", "fabs"), 0x9B: ("double", "ceil"), 0x9C: ("double", "floor"),
                     0x9D: ("double", "trunc"), 0x9E: ("double", "roundeven"), 0x9F: ("double", "sqrt")}
_SUFFIX = {"float": "f32", "double": "f64"}


def _float_binary(fx, code):
    t, inst = _FLOAT_BINARY[code]
    b = fx.pop()
    a = fx.pop()
    r = fx.value(f"{inst} {t} {a}, {b}")
    fx.float_arith.add(r)
    fx.push(r, t)


def _float_intrinsic2(fx, code):
    t, intr = _FLOAT_INTRINSIC2[code]
    b = fx.pop()
    a = fx.pop()
    r = fx.value(f"call {t} @llvm.{intr}.{_SUFFIX[t]}({t} {a}, {t} {b})")
    if intr != "copysign":
        # llvm.minimum/maximum may return a signalling NaN operand unchanged (x86 does),
        # wasm wants an arithmetic (quiet) NaN: take a NaN result from an fadd instead.
        uno = fx.value(f"fcmp uno {t} {a}, {b}")
        q = fx.value(f"fadd {t} {a}, {b}")
        r = fx.value(f"select i1 {uno}, {t} {q}, {t} {r}")
        fx.float_arith.add(r)
    fx.push(r, t)


def _float_intrinsic1(fx, code):
    t, intr = _FLOAT_INTRINSIC1[code]
    a = fx.pop()
    r = fx.value(f"call {t} @llvm.{intr}.{_SUFFIX[t]}({t} {a})")
    if intr != "fabs":   # fabs is a sign-bit operation: it does not quiet a NaN
        fx.float_arith.add(r)
    fx.push(r, t)


def _fneg(fx, code):
    t = "float" if code == 0x8C else "double"
    a = fx.pop()
    fx.push(fx.value(f"fneg {t} {a}"), t)


# --- conversions ---------------------------------------------------------------------------

# Trapping float -> int: (source, target, signed, lower bound exclusive?, lower, upper exclusive)
# A value converts iff lower < x < upper (or lower <= x when the bound is exact), after NaN check.
_TRUNC = {
    0xA8: ("float", "i32", True), 0xA9: ("float", "i32", False),
    0xAA: ("double", "i32", True), 0xAB: ("double", "i32", False),
    0xAE: ("float", "i64", True), 0xAF: ("float", "i64", False),
    0xB0: ("double", "i64", True), 0xB1: ("double", "i64", False),
}
# Hex doubles for the bounds, exact in both float and double where used.
_BOUNDS = {
    # (source, target, signed): (predicate for lower, lower, upper)
    ("float", "i32", True): ("oge", "0xC1E0000000000000", "0x41E0000000000000"),      # [-2^31, 2^31)
    ("double", "i32", True): ("ogt", "0xC1E0000000200000", "0x41E0000000000000"),     # (-2^31-1, 2^31)
    ("float", "i32", False): ("ogt", "0xBFF0000000000000", "0x41F0000000000000"),     # (-1, 2^32)
    ("double", "i32", False): ("ogt", "0xBFF0000000000000", "0x41F0000000000000"),
    ("float", "i64", True): ("oge", "0xC3E0000000000000", "0x43E0000000000000"),      # [-2^63, 2^63)
    ("double", "i64", True): ("oge", "0xC3E0000000000000", "0x43E0000000000000"),
    ("float", "i64", False): ("ogt", "0xBFF0000000000000", "0x43F0000000000000"),     # (-1, 2^64)
    ("double", "i64", False): ("ogt", "0xBFF0000000000000", "0x43F0000000000000"),
}


def _trunc(fx, code):
    src, dst, signed = _TRUNC[code]
    a = fx.pop()
    fx.trap_if(fx.value(f"fcmp uno {src} {a}, {a}"), TrapKind.INVALID_CONVERSION)
    pred, lo, hi = _BOUNDS[(src, dst, signed)]
    ok_lo = fx.value(f"fcmp {pred} {src} {a}, {lo}")
    ok_hi = fx.value(f"fcmp olt {src} {a}, {hi}")
    ok = fx.value(f"and i1 {ok_lo}, {ok_hi}")
    fx.trap_if(fx.value(f"xor i1 {ok}, true"), TrapKind.INTEGER_OVERFLOW)
    inst = "fptosi" if signed else "fptoui"
    fx.push(fx.value(f"{inst} {src} {a} to {dst}"), dst)


_TRUNC_SAT = {
    0xFC00: ("float", "i32", "fptosi"), 0xFC01: ("float", "i32", "fptoui"),
    0xFC02: ("double", "i32", "fptosi"), 0xFC03: ("double", "i32", "fptoui"),
    0xFC04: ("float", "i64", "fptosi"), 0xFC05: ("float", "i64", "fptoui"),
    0xFC06: ("double", "i64", "fptosi"), 0xFC07: ("double", "i64", "fptoui"),
}


def _trunc_sat(fx, code):
    src, dst, intr = _TRUNC_SAT[code]
    a = fx.pop()
    fx.push(fx.value(f"call {dst} @llvm.{intr}.sat.{dst}.{_SUFFIX[src]}({src} {a})"), dst)


_CAST = {  # code: (instruction, from, to)
    0xA7: ("trunc", "i64", "i32"),
    0xAC: ("sext", "i32", "i64"), 0xAD: ("zext", "i32", "i64"),
    0xB2: ("sitofp", "i32", "float"), 0xB3: ("uitofp", "i32", "float"),
    0xB4: ("sitofp", "i64", "float"), 0xB5: ("uitofp", "i64", "float"),
    0xB6: ("fptrunc", "double", "float"),
    0xB7: ("sitofp", "i32", "double"), 0xB8: ("uitofp", "i32", "double"),
    0xB9: ("sitofp", "i64", "double"), 0xBA: ("uitofp", "i64", "double"),
    0xBB: ("fpext", "float", "double"),
    0xBC: ("bitcast", "float", "i32"), 0xBD: ("bitcast", "double", "i64"),
    0xBE: ("bitcast", "i32", "float"), 0xBF: ("bitcast", "i64", "double"),
}


def _cast(fx, code):
    inst, src, dst = _CAST[code]
    a = fx.pop()
    r = fx.value(f"{inst} {src} {a} to {dst}")
    if inst == "fptrunc":
        if a not in fx.float_arith:   # fptrunc(fpext x) folds to x: quiet the result explicitly
            r = fx.value(f"call float @llvm.canonicalize.f32(float {r})")
        fx.float_arith.add(r)
    elif dst in ("float", "double") and _is_literal(a):
        r = opaque(fx, r, dst)        # e.g. f32.convert_i32_s (i32.const 1) must not become a visible 1.0
    fx.push(r, dst)


def handlers() -> dict:
    """Opcode -> handler for every numeric instruction."""
    table = {}
    for group, fn in ((_ICMP, _compare), (_FCMP, _compare), (_INT_BINARY, _int_binary),
                      (_SHIFT, _shift), (_ROTATE, _rotate), (_BIT_COUNT, _bit_count),
                      (_DIVISION, _division), (_SIGN_EXTEND, _sign_extend),
                      (_FLOAT_BINARY, _float_binary), (_FLOAT_INTRINSIC2, _float_intrinsic2),
                      (_FLOAT_INTRINSIC1, _float_intrinsic1), (_TRUNC, _trunc),
                      (_TRUNC_SAT, _trunc_sat), (_CAST, _cast)):
        for code in group:
            table[code] = fn
    table[0x45] = table[0x50] = _eqz
    table[0x8C] = table[0x9A] = _fneg
    return table


# Intrinsic declarations the numeric handlers may reference.
DECLARATIONS = "\n".join(
    [f"declare {t} @llvm.{i}.{t}({t}, {t}, {t})" for t in ("i32", "i64") for i in ("fshl", "fshr")]
    + [f"declare {t} @llvm.{i}.{t}({t}, i1)" for t in ("i32", "i64") for i in ("ctlz", "cttz")]
    + [f"declare {t} @llvm.ctpop.{t}({t})" for t in ("i32", "i64")]
    + [f"declare {t} @llvm.{i}.{s}({t}, {t})" for t, s in (("float", "f32"), ("double", "f64"))
       for i in ("minimum", "maximum", "copysign")]
    + [f"declare {t} @llvm.{i}.{s}({t})" for t, s in (("float", "f32"), ("double", "f64"))
       for i in ("fabs", "ceil", "floor", "trunc", "roundeven", "sqrt")]
    + [f"declare {t} @llvm.canonicalize.{s}({t})" for t, s in (("float", "f32"), ("double", "f64"))]
    + [f"declare {d} @llvm.{i}.sat.{d}.{s}({t})" for d in ("i32", "i64")
       for t, s in (("float", "f32"), ("double", "f64")) for i in ("fptosi", "fptoui")]
)
