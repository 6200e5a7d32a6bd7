"""Relaxed SIMD (WebAssembly 3.0, opcodes 0xFD 0x100-0x113): the x86-64 native results.

The spec gives each relaxed operator a list of allowed results, ``relaxed(R)[A0, A1, ...]``,
and lets an implementation fix the index ``R`` once per operator (A0 is the deterministic
profile's). We choose what the fast x86 instruction computes (``Choices``), decided at
translation time from the host's CPU flags: the code is compiled for the host CPU and the code
cache key has its flags. Both tiers run this same translation, so tiering up keeps every result.

=================================  ======================  ======================================
instruction                        x86-64 (host flag)      result where the spec leaves a choice
=================================  ======================  ======================================
i8x16.relaxed_swizzle              pshufb (ssse3)          R=1: index 16..127 -> a[index % 16]
i32x4.relaxed_trunc_f32x4_s,       cvttps2dq, cvttpd2dq    R=1: NaN, out of range -> INT32_MIN
i32x4.relaxed_trunc_f64x2_s_zero   (sse2)
i32x4.relaxed_trunc_f32x4_u,       vcvttps2udq,            R=1: NaN, out of range -> UINT32_MAX
i32x4.relaxed_trunc_f64x2_u_zero   vcvttpd2udq (avx512vl)
f32x4/f64x2.relaxed_madd/nmadd     vfmadd/vfnmadd (fma)    R=1: fused, one rounding
iNxM.relaxed_laneselect            blendv (sse4_1)         R=1: a lane by its mask's top bit
f32x4/f64x2.relaxed_min/max        minps/maxps/-pd (b, a)  R=1: a if either is NaN, or for ±0, ∓0
i16x8.relaxed_q15mulr_s            pmulhrsw (ssse3)        R=1: INT16_MIN * INT16_MIN -> INT16_MIN
i16x8.relaxed_dot_i8x16_i7x16_s    pmaddubsw (ssse3)       R=1: b's bytes unsigned, pair sums
i32x4.relaxed_dot_i8x16_i7x16_add  pmaddubsw, pmaddwd,     saturated to i16 (the spec's sum)
                                   paddd
=================================  ======================  ======================================

Without the flag, swizzle, trunc, madd and q15mulr give the deterministic result (R=0); the
laneselect, min/max and dot choices are then computed in plain LLVM IR, so they are the same on
every host (i16x8.relaxed_laneselect always is: there is no 16-bit blendv; LLVM picks psraw +
pblendvb, or vpmovw2m + vpblendmw with AVX-512BW). docs/RELAXED_SIMD.md has examples.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..binary import opcodes as op
from . import simd
from .numeric import hidden_vector
from .simd import SHAPES, _const_vec, host_flags, pop_as, push_vec, vsuffix, vtype


@dataclass(frozen=True)
class Choices:
    """The spec's global parameters: for each relaxed operator, the index R of the result
    we give in its list ``relaxed(R)[...]`` (0 = the deterministic profile's)."""

    swizzle: int       # R_swizzle     {0, 1}
    trunc_s: int       # R_trunc_s     {0, 1}
    trunc_u: int       # R_trunc_u     {0, 1, 2, 3}
    fmadd: int         # R_fmadd       {0, 1}
    laneselect: int    # R_laneselect  {0, 1}
    fmin: int          # R_fmin        {0, 1, 2, 3}
    fmax: int          # R_fmax        {0, 1, 2, 3}
    iq15mulr: int      # R_iq15mulr    {0, 1}
    idot: int          # R_idot        {0, 1}


def choices() -> Choices:
    """This host's choices, from its CPU flags (see the module docstring)."""
    f = host_flags()
    native = "ssse3" in f
    return Choices(swizzle=int(native), trunc_s=int("sse2" in f), trunc_u=int({"avx512f", "avx512vl"} <= f),
                   fmadd=int("fma" in f), laneselect=1, fmin=1, fmax=1, iq15mulr=int(native), idot=1)


def _has(*flags: str) -> bool:
    return all(f in host_flags() for f in flags)


# --- the handlers -----------------------------------------------------------------------------

def _swizzle(fx, code, imm):
    if not choices().swizzle:
        return simd._swizzle(fx, code, imm)           # the strict swizzle (R=0)
    s = pop_as(fx, "i8", 16)
    a = pop_as(fx, "i8", 16)
    push_vec(fx, fx.value(f"call <16 x i8> @llvm.x86.ssse3.pshuf.b.128(<16 x i8> {a}, <16 x i8> {s})"), "i8", 16)


def _trunc(fx, code, imm):
    name = op.NAME[code]
    unsigned = name.endswith(("_u", "_u_zero"))
    wide = "f64x2" in name
    if not (choices().trunc_u if unsigned else choices().trunc_s):
        return simd._trunc_sat(fx, code, imm)         # saturating (R=0)
    a = pop_as(fx, "double", 2) if wide else pop_as(fx, "float", 4)
    src = "<2 x double>" if wide else "<4 x float>"
    if unsigned:      # the AVX-512 forms take a pass-through vector and a lane mask: all lanes
        intr = f"avx512.mask.cvtt{'pd' if wide else 'ps'}2udq.128"
        r = fx.value(f"call <4 x i32> @llvm.x86.{intr}({src} {a}, <4 x i32> zeroinitializer, i8 -1)")
    else:
        r = fx.value(f"call <4 x i32> @llvm.x86.sse2.cvtt{'pd' if wide else 'ps'}2dq({src} {a})")
    push_vec(fx, r, "i32", 4)                         # the f64x2 forms zero lanes 2 and 3


def _negate(fx, a: str, lane: str, n: int) -> str:
    """``-a`` by flipping the sign bits with a mask LLVM cannot see.

    A plain ``fneg`` is folded into vfnmadd at -O2 but not at -O0, and vfnmadd returns a NaN
    operand with its sign as it was: the tiers would give NaNs of opposite signs."""
    ity = simd._INT_OF_WIDTH[simd._BITS[lane]]
    it = vtype(ity, n)
    mask = hidden_vector(fx, it, _const_vec(ity, n, -(1 << (simd._BITS[lane] - 1))))
    bits = fx.value(f"xor {it} {fx.value(f'bitcast {vtype(lane, n)} {a} to {it}')}, {mask}")
    return fx.value(f"bitcast {it} {bits} to {vtype(lane, n)}")


def _madd(fx, code, imm):
    shape, _, rest = op.NAME[code].partition(".")
    lane, n = SHAPES[shape]
    t = vtype(lane, n)
    c = pop_as(fx, lane, n)
    b = pop_as(fx, lane, n)
    a = pop_as(fx, lane, n)
    if rest == "relaxed_nmadd":                        # nmadd(a, b, c) = madd(-a, b, c)
        a = _negate(fx, a, lane, n)
    if choices().fmadd:
        r = fx.value(f"call {t} @llvm.fma.{vsuffix(lane, n)}({t} {a}, {t} {b}, {t} {c})")
    else:             # no fast-math flags: LLVM never contracts these two into an fma
        r = fx.value(f"fadd {t} {fx.value(f'fmul {t} {a}, {b}')}, {c}")
    push_vec(fx, r, lane, n)


_BLENDV = {"i8": ("sse41.pblendvb", "i8", 16), "i32": ("sse41.blendvps", "float", 4),
           "i64": ("sse41.blendvpd", "double", 2)}


def _laneselect(fx, code, imm):
    """Each lane from ``a`` where its mask's top bit is set, else from ``b``: blendv."""
    lane, n = SHAPES[op.NAME[code].partition(".")[0]]
    if lane in _BLENDV and _has("sse4_1"):
        intr, vlane, _ = _BLENDV[lane]
        t = vtype(vlane, n)
        m = pop_as(fx, vlane, n)
        b = pop_as(fx, vlane, n)
        a = pop_as(fx, vlane, n)
        # blendv(x, y, mask) takes y where the mask's top bit is set
        push_vec(fx, fx.value(f"call {t} @llvm.x86.{intr}({t} {b}, {t} {a}, {t} {m})"), vlane, n)
        return
    # i16x8 (no 16-bit blendv) and other hosts: the same choice in plain IR, which LLVM
    # lowers to psraw + pblendvb, or vpmovw2m + vpblendmw with AVX-512BW
    t = vtype(lane, n)
    m = pop_as(fx, lane, n)
    b = pop_as(fx, lane, n)
    a = pop_as(fx, lane, n)
    top = fx.value(f"icmp slt {t} {m}, zeroinitializer")
    push_vec(fx, fx.value(f"select <{n} x i1> {top}, {t} {a}, {t} {b}"), lane, n)


def _min_max(fx, code, imm):
    """``b < a ? b : a`` (``b > a`` for max): minps/maxps/minpd/maxpd with the operands swapped,
    wasm's ``pmin``/``pmax``, so a NaN or a pair of zeros gives ``a`` (the choice wasmtime makes)."""
    rest, lane, n, t, a, b = simd._binary_operands(fx, code)
    which = "min" if rest == "relaxed_min" else "max"
    if _has("sse2"):      # (the plain-IR form below loses minpd/maxpd to instcombine at -O2)
        intr = f"sse.{which}.ps" if lane == "float" else f"sse2.{which}.pd"
        push_vec(fx, fx.value(f"call {t} @llvm.x86.{intr}({t} {b}, {t} {a})"), lane, n)
        return
    c = fx.value(f"fcmp {'olt' if which == 'min' else 'ogt'} {t} {b}, {a}")
    push_vec(fx, fx.value(f"select <{n} x i1> {c}, {t} {b}, {t} {a}"), lane, n)


def _q15mulr(fx, code, imm):
    if not choices().iq15mulr:
        return simd._q15mulr(fx, code, imm)            # saturating (R=0)
    b = pop_as(fx, "i16", 8)
    a = pop_as(fx, "i16", 8)
    push_vec(fx, fx.value(f"call <8 x i16> @llvm.x86.ssse3.pmul.hr.sw.128(<8 x i16> {a}, <8 x i16> {b})"), "i16", 8)


def _dot_pairs(fx, a: str, b: str) -> str:
    """a (signed) times b (unsigned) lane by lane, pairs added with i16 saturation: <8 x i16>."""
    if _has("ssse3"):     # pmaddubsw: its first operand is the unsigned one
        return fx.value(f"call <8 x i16> @llvm.x86.ssse3.pmadd.ub.sw.128(<16 x i8> {b}, <16 x i8> {a})")
    wa = fx.value(f"sext <16 x i8> {a} to <16 x i16>")
    wb = fx.value(f"zext <16 x i8> {b} to <16 x i16>")
    p = fx.value(f"mul <16 x i16> {wa}, {wb}")
    even = fx.value(f"shufflevector <16 x i16> {p}, <16 x i16> poison, <8 x i32> {simd._mask(range(0, 16, 2))}")
    odd = fx.value(f"shufflevector <16 x i16> {p}, <16 x i16> poison, <8 x i32> {simd._mask(range(1, 16, 2))}")
    return fx.value(f"call <8 x i16> @llvm.sadd.sat.v8i16(<8 x i16> {even}, <8 x i16> {odd})")


def _dot(fx, code, imm):
    b = pop_as(fx, "i8", 16)
    a = pop_as(fx, "i8", 16)
    push_vec(fx, _dot_pairs(fx, a, b), "i16", 8)


def _dot_add(fx, code, imm):
    c = pop_as(fx, "i32", 4)
    b = pop_as(fx, "i8", 16)
    a = pop_as(fx, "i8", 16)
    pairs = _dot_pairs(fx, a, b)
    if _has("sse2"):      # pmaddwd by ones: adjacent i16 lanes summed into i32 lanes
        s = fx.value(f"call <4 x i32> @llvm.x86.sse2.pmadd.wd(<8 x i16> {pairs}, <8 x i16> {_const_vec('i16', 8, 1)})")
    else:
        s = simd._pairwise_add(fx, fx.value(f"sext <8 x i16> {pairs} to <8 x i32>"), "i32", 8)
    push_vec(fx, fx.value(f"add <4 x i32> {s}, {c}"), "i32", 4)


_BY_NAME = {"relaxed_swizzle": _swizzle, "relaxed_madd": _madd, "relaxed_nmadd": _madd,
            "relaxed_laneselect": _laneselect, "relaxed_min": _min_max, "relaxed_max": _min_max,
            "relaxed_q15mulr_s": _q15mulr, "relaxed_dot_i8x16_i7x16_s": _dot,
            "relaxed_dot_i8x16_i7x16_add_s": _dot_add}


def handler(name: str):
    """The handler of the relaxed instruction ``name`` (``shape.relaxed_...``)."""
    rest = name.partition(".")[2]
    return _trunc if rest.startswith("relaxed_trunc") else _BY_NAME[rest]


_X86_DECLARATIONS = [     # (pshufb is declared by simd.py)
    "declare <4 x i32> @llvm.x86.sse2.cvttps2dq(<4 x float>)",
    "declare <4 x i32> @llvm.x86.sse2.cvttpd2dq(<2 x double>)",
    "declare <4 x i32> @llvm.x86.avx512.mask.cvttps2udq.128(<4 x float>, <4 x i32>, i8)",
    "declare <4 x i32> @llvm.x86.avx512.mask.cvttpd2udq.128(<2 x double>, <4 x i32>, i8)",
    "declare <16 x i8> @llvm.x86.sse41.pblendvb(<16 x i8>, <16 x i8>, <16 x i8>)",
    "declare <4 x float> @llvm.x86.sse41.blendvps(<4 x float>, <4 x float>, <4 x float>)",
    "declare <2 x double> @llvm.x86.sse41.blendvpd(<2 x double>, <2 x double>, <2 x double>)",
    "declare <4 x float> @llvm.x86.sse.min.ps(<4 x float>, <4 x float>)",
    "declare <4 x float> @llvm.x86.sse.max.ps(<4 x float>, <4 x float>)",
    "declare <2 x double> @llvm.x86.sse2.min.pd(<2 x double>, <2 x double>)",
    "declare <2 x double> @llvm.x86.sse2.max.pd(<2 x double>, <2 x double>)",
    "declare <8 x i16> @llvm.x86.ssse3.pmul.hr.sw.128(<8 x i16>, <8 x i16>)",
    "declare <8 x i16> @llvm.x86.ssse3.pmadd.ub.sw.128(<16 x i8>, <16 x i8>)",
    "declare <4 x i32> @llvm.x86.sse2.pmadd.wd(<8 x i16>, <8 x i16>)",
]
DECLARATIONS = "\n".join([
    "declare <4 x float> @llvm.fma.v4f32(<4 x float>, <4 x float>, <4 x float>)",
    "declare <2 x double> @llvm.fma.v2f64(<2 x double>, <2 x double>, <2 x double>)",
    *(_X86_DECLARATIONS if host_flags() else []),
])
