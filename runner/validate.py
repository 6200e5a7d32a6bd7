"""The WebAssembly validation algorithm (2.0 with SIMD; 3.0 as it lands), over a decoded ``Module``.

``validate(module)`` returns None or raises ``ValidationError(message, offset,
func_index)``; messages follow the spec interpreter's wording ("type mismatch",
"unknown local", ...).  A few rules the spec classes as *malformed* (a body
that does not end exactly at its last byte, memory.init/data.drop without a
data count section) raise ``DecodeError`` instead.

Function bodies follow the algorithm of the spec's appendix ("Validation
Algorithm"): an operand stack of value types, where ``UNKNOWN`` stands for the
bottom type of polymorphic (unreachable) code, and a stack of control frames
``[opcode, params, results, height, unreachable]``.

Performance: this runs on every module before compilation, so the
per-instruction path is a dict lookup for the numeric/memory instructions
(precomputed signatures, derived from the opcode names in ``opcodes.py``)
with an inline fast path when the stack holds exactly the expected types,
and a short if-chain for the rest.  The slow helpers (underflow inside
unreachable code, unknown operands) raise ``_Invalid`` which the loop turns
into a ``ValidationError`` carrying the current instruction's offset.
"""
from __future__ import annotations

from .binary import opcodes as op
from .binary.decode import iter_instructions
from .binary.module import (EXNREF, F32, F64, FUNCREF, HT_EXN, HT_NOEXN, I32, I64, V128, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY,
                            KIND_TABLE, KIND_TAG, MODE_ACTIVE, ConstExpr, Module, RefType, type_name)
from .binary.subtype import HT_BOT, matches, matches_all
from .errors import DecodeError, ValidationError

__all__ = ["validate"]

UNKNOWN = 0                 # the bottom type of unreachable code; matches every value type
MAX_PAGES = 65536
BLOCKTYPE_EMPTY = -64
_NUM = frozenset((I32, I64, F32, F64, V128, UNKNOWN))


class _Invalid(Exception):
    """Raised by the helpers; the body loop adds the instruction offset."""


# --- instruction signatures, derived from the opcode table ---------------------------------

_TYPES = {"i32": I32, "i64": I64, "f32": F32, "f64": F64}
_SIZES = {I32: 4, I64: 8, F32: 4, F64: 8}
_CMP = frozenset(("eq", "ne", "lt", "gt", "le", "ge"))
_UNARY = frozenset(("clz", "ctz", "popcnt", "abs", "neg", "ceil", "floor", "trunc", "nearest",
                    "sqrt", "extend8", "extend16", "extend32"))
_BINARY = frozenset(("add", "sub", "mul", "div", "rem", "and", "or", "xor", "shl", "shr", "rotl",
                     "rotr", "min", "max", "copysign"))


def _derive_signatures():
    """``{code: (pops, push)}`` for every numeric instruction (push 0 = nothing),
    and ``{code: (pops, push, max_align_log2)}`` for loads and stores."""
    simple: dict[int, tuple[list[int], int]] = {}
    memory: dict[int, tuple[list[int], int, int]] = {}
    for code, name, kind in op.OPCODES:
        tname, _, rest = name.partition(".")
        if op.is_simd(code):
            _simd_signature(code, tname, rest, kind, simple, memory, SIMD_LANES)
            continue
        t = _TYPES.get(tname)
        if t is None:
            continue
        if kind == op.MEMARG:
            digits = "".join(ch for ch in rest if ch.isdigit())
            size = int(digits) // 8 if digits else _SIZES[t]
            align = size.bit_length() - 1
            if rest.startswith("load"):
                memory[code] = ([I32], t, align)
            else:
                assert rest.startswith("store"), name
                memory[code] = ([I32, t], 0, align)
            continue
        if kind in (op.I32, op.I64, op.F32, op.F64):      # t.const
            simple[code] = ([], t)
            continue
        assert kind == op.NONE, name
        parts = rest.split("_")
        src = next((_TYPES[p] for p in parts[1:] if p in _TYPES), None)
        if src is not None:                                # conversions: t.op_src[_sx]
            simple[code] = ([src], t)
        elif rest == "eqz":
            simple[code] = ([t], I32)
        elif parts[0] in _CMP:
            simple[code] = ([t, t], I32)
        elif parts[0] in _UNARY:
            simple[code] = ([t], t)
        elif parts[0] in _BINARY:
            simple[code] = ([t, t], t)
        else:  # pragma: no cover - a new opcode the rules above do not know
            raise AssertionError(f"no signature rule for {name}")
    return simple, memory


# SIMD: the scalar type of a shape's lanes, and its lane count.
SHAPES = {"i8x16": (I32, 16), "i16x8": (I32, 8), "i32x4": (I32, 4), "i64x2": (I64, 2),
          "f32x4": (F32, 4), "f64x2": (F64, 2)}
_V_UNARY = frozenset(("not", "abs", "neg", "popcnt", "sqrt", "ceil", "floor", "trunc", "nearest",
                      "extend", "convert", "demote", "promote", "extadd"))
_V_TEST = frozenset(("any_true", "all_true", "bitmask"))
_V_TERNARY = frozenset(("bitselect", "madd", "nmadd", "laneselect"))
SIMD_LANES: dict[int, int] = {}   # code -> lane count, for the instructions with a lane immediate


def _simd_memory(rest: str) -> tuple[int, int]:
    """(bytes accessed, lane count or 0) of a v128 load/store name such as ``load16x4_s``."""
    if rest in ("load", "store"):
        return 16, 0
    digits = rest[4:] if rest.startswith("load") else rest[5:]
    width = int(digits.partition("x")[0].partition("_")[0])
    if "x" in digits:                                  # load8x8_s: 8 lanes of 8 bits
        return 8, 0
    lanes = 128 // width if rest.endswith("_lane") else 0
    return width // 8, lanes


def _simd_signature(code, shape, rest, kind, simple, memory, lanes) -> None:
    """One SIMD instruction's signature, from its name (``shape.op_...``; a relaxed
    instruction's ``shape.relaxed_op_...`` has the signature of ``op``)."""
    base = rest.removeprefix("relaxed_")
    opname = base.split("_")[0]
    if kind in (op.MEMARG, op.MEMARG_LANE):
        size, n = _simd_memory(rest)
        align = size.bit_length() - 1
        if rest.startswith("load"):
            memory[code] = ([I32, V128] if n else [I32], V128, align)
        else:
            memory[code] = ([I32, V128], 0, align)
        if n:
            lanes[code] = n
        return
    scalar, count = SHAPES.get(shape, (None, 16))
    if kind == op.V128_CONST:
        simple[code] = ([], V128)
    elif kind == op.SHUFFLE:
        lanes[code] = 32
        simple[code] = ([V128, V128], V128)
    elif kind == op.LANE:
        lanes[code] = count
        if opname == "extract":
            simple[code] = ([V128], scalar)
        else:
            simple[code] = ([V128, scalar], V128)
    elif opname == "splat":
        simple[code] = ([scalar], V128)
    elif rest in _V_TEST:
        simple[code] = ([V128], I32)
    elif opname in ("shl", "shr"):
        simple[code] = ([V128, I32], V128)
    elif opname in _V_TERNARY or opname == "dot" and "add" in base.split("_"):
        simple[code] = ([V128, V128, V128], V128)     # bitselect, madd, laneselect, dot..._add_s
    elif opname in _V_UNARY:                           # (trunc: also trunc_sat and relaxed_trunc)
        simple[code] = ([V128], V128)
    else:
        simple[code] = ([V128, V128], V128)


NUMERIC_SIGS, MEMORY_SIGS = _derive_signatures()
# Lane-immediate instructions (not loads/stores) leave the fast path: the body loop checks the lane.
_LANE_SIGS = {c: NUMERIC_SIGS.pop(c) for c in SIMD_LANES if c in NUMERIC_SIGS}
_C = op.CODE

# The remaining instructions, each handled by one branch of the body loop.
(_K_LOCAL_GET, _K_LOCAL_SET, _K_LOCAL_TEE, _K_GLOBAL_GET, _K_GLOBAL_SET, _K_CALL, _K_BR_IF,
 _K_BLOCK, _K_LOOP, _K_IF, _K_ELSE, _K_END, _K_BR, _K_BR_TABLE, _K_RETURN, _K_UNREACHABLE,
 _K_NOP, _K_DROP, _K_SELECT, _K_SELECT_T, _K_CALL_INDIRECT, _K_MEMORY, _K_MEMORY_SIZE,
 _K_MEMORY_GROW, _K_REF_NULL, _K_REF_IS_NULL, _K_REF_FUNC, _K_TABLE_GET, _K_TABLE_SET,
 _K_TABLE_SIZE, _K_TABLE_GROW, _K_TABLE_FILL, _K_TABLE_COPY, _K_TABLE_INIT, _K_ELEM_DROP,
 _K_MEMORY_INIT, _K_DATA_DROP, _K_MEMORY_COPY, _K_MEMORY_FILL, _K_LANE, _K_NOT_YET, _K_EXN) = range(1, 43)

_KIND_OF = {
    _C["local.get"]: _K_LOCAL_GET, _C["local.set"]: _K_LOCAL_SET, _C["local.tee"]: _K_LOCAL_TEE,
    _C["global.get"]: _K_GLOBAL_GET, _C["global.set"]: _K_GLOBAL_SET, _C["call"]: _K_CALL,
    _C["br_if"]: _K_BR_IF, _C["block"]: _K_BLOCK, _C["loop"]: _K_LOOP, _C["if"]: _K_IF,
    _C["else"]: _K_ELSE, _C["end"]: _K_END, _C["br"]: _K_BR, _C["br_table"]: _K_BR_TABLE,
    _C["return"]: _K_RETURN, _C["unreachable"]: _K_UNREACHABLE, _C["nop"]: _K_NOP,
    _C["drop"]: _K_DROP, _C["select"]: _K_SELECT, _C["select_t"]: _K_SELECT_T,
    _C["call_indirect"]: _K_CALL_INDIRECT, _C["memory.size"]: _K_MEMORY_SIZE,
    _C["memory.grow"]: _K_MEMORY_GROW, _C["ref.null"]: _K_REF_NULL,
    _C["ref.is_null"]: _K_REF_IS_NULL, _C["ref.func"]: _K_REF_FUNC,
    _C["table.get"]: _K_TABLE_GET, _C["table.set"]: _K_TABLE_SET,
    _C["table.size"]: _K_TABLE_SIZE, _C["table.grow"]: _K_TABLE_GROW,
    _C["table.fill"]: _K_TABLE_FILL, _C["table.copy"]: _K_TABLE_COPY,
    _C["table.init"]: _K_TABLE_INIT, _C["elem.drop"]: _K_ELEM_DROP,
    _C["memory.init"]: _K_MEMORY_INIT, _C["data.drop"]: _K_DATA_DROP,
    _C["memory.copy"]: _K_MEMORY_COPY, _C["memory.fill"]: _K_MEMORY_FILL,
}
for _code in MEMORY_SIGS:
    _KIND_OF[_code] = _K_MEMORY
for _code in _LANE_SIGS:
    _KIND_OF[_code] = _K_LANE
for _code in (_C["throw"], _C["throw_ref"], _C["try_table"]):
    _KIND_OF[_code] = _K_EXN
for _code in op.NEW_IN_3:     # 3.0 instructions whose rules have not landed yet
    _KIND_OF.setdefault(_code, _K_NOT_YET)
# Typed function references and tail calls.
(_K_CALL_REF, _K_RETURN_CALL, _K_RETURN_CALL_INDIRECT, _K_RETURN_CALL_REF, _K_REF_AS_NON_NULL,
 _K_BR_ON_NULL, _K_BR_ON_NON_NULL) = range(100, 107)
_KIND_OF.update({
    _C["call_ref"]: _K_CALL_REF, _C["return_call"]: _K_RETURN_CALL,
    _C["return_call_indirect"]: _K_RETURN_CALL_INDIRECT, _C["return_call_ref"]: _K_RETURN_CALL_REF,
    _C["ref.as_non_null"]: _K_REF_AS_NON_NULL, _C["br_on_null"]: _K_BR_ON_NULL,
    _C["br_on_non_null"]: _K_BR_ON_NON_NULL,
})
_missing = [n for c, n, _ in op.OPCODES if c not in _KIND_OF and c not in NUMERIC_SIGS]
assert not _missing, f"validator does not handle {_missing}"
del _code, _missing

_I32x3 = [I32, I32, I32]


# --- operand stack helpers (the slow path) ------------------------------------------------

def _pop(stack: list, ctrls: list) -> int:
    frame = ctrls[-1]
    if len(stack) == frame[3]:
        if frame[4]:
            return UNKNOWN
        raise _Invalid("type mismatch")
    return stack.pop()


def _pop_expect(stack: list, ctrls: "_Ctrls", expect: int) -> int:
    frame = ctrls[-1]
    if len(stack) == frame[3]:
        if frame[4]:
            return UNKNOWN
        raise _Invalid("type mismatch")
    actual = stack.pop()
    if actual != expect and not matches(actual, expect, ctrls.module):
        raise _Invalid("type mismatch")
    return actual


def _pop_ref(stack: list, ctrls: "_Ctrls"):
    """Pop a reference; unknown in unreachable code is ``(ref bot)`` (matches every reference)."""
    t = _pop(stack, ctrls)
    if t == UNKNOWN:
        return RefType(False, HT_BOT)
    if type(t) is not RefType:
        raise _Invalid("type mismatch: a reference is expected")
    return t


class _Ctrls(list):
    """The control stack; carries the module, for subtype checks of type indices."""

    __slots__ = ("module",)


def _pop_vals(stack: list, ctrls: list, types) -> None:
    """Pop ``types`` (last one on top); fast when the stack holds exactly them."""
    n = len(types)
    if not n:
        return
    if len(stack) - n >= ctrls[-1][3] and stack[-n:] == types:
        del stack[-n:]
        return
    for t in reversed(types):
        _pop_expect(stack, ctrls, t)


def _pop_vals_keep(stack: list, ctrls: list, types) -> list:
    """Pop ``types`` and return what was popped (Unknown stays Unknown, as in the spec)."""
    n = len(types)
    if not n:
        return []
    if len(stack) - n >= ctrls[-1][3] and stack[-n:] == types:
        popped = stack[-n:]
        del stack[-n:]
        return popped
    popped = [_pop_expect(stack, ctrls, t) for t in reversed(types)]
    popped.reverse()
    return popped


def _set_unreachable(stack: list, ctrls: list) -> None:
    frame = ctrls[-1]
    del stack[frame[3]:]
    frame[4] = True


def _label_types(ctrls: list, depth: int):
    if depth >= len(ctrls):
        raise _Invalid(f"unknown label {depth}")
    frame = ctrls[-1 - depth]
    return frame[1] if frame[0] == _K_LOOP else frame[2]


def _reset_locals(ctrls: list, inits: list, initialised: list) -> None:
    """Leaving a block: locals it initialised are uninitialised again (3.0's local rule)."""
    h = ctrls[-1][5]
    while len(inits) > h:
        initialised[inits.pop()] = False


def _check_return(results, fresults, module) -> None:
    """A tail call's callee must return what the caller returns."""
    if not matches_all(fresults, results, module):
        raise _Invalid("type mismatch: tail call's results do not match the function's")


# --- module-level rules ---------------------------------------------------------------------

class _Context:
    """What the body validator needs to know about the module (the spec's context C)."""

    __slots__ = ("module", "types", "func_types", "globals", "tables", "num_memories",
                 "num_elems", "data_count", "refs", "block_types")

    def __init__(self, m: Module):
        self.module = m
        self.types = [(list(t.params), list(t.results)) for t in m.types]
        self.func_types = m.func_types
        self.globals = m.globals
        self.tables = [t.elem_type for t in m.tables]
        self.num_memories = len(m.memories)
        self.num_elems = len(m.elements)
        self.data_count = m.data_count
        refs = set()
        for seg in m.elements:
            for e in seg.init:
                if e.op == "ref.func":
                    refs.add(e.value)
        for g in m.global_inits:
            if g.init.op == "ref.func":
                refs.add(g.init.value)
        for init in m.table_inits:
            if init is not None and init.op == "ref.func":
                refs.add(init.value)
        for e in m.exports:
            if e.kind == KIND_FUNC:
                refs.add(e.index)
        self.refs = refs
        self.block_types = {BLOCKTYPE_EMPTY: ([], [])}
        for t in (I32, I64, F32, F64, V128):
            self.block_types[t - 0x80] = ([], [t])


def _fail(message: str, offset: int | None = None, func_index: int | None = None):
    raise ValidationError(message, offset, func_index)


def _check_limits(limits, bound: int, offset=None) -> None:
    if bound == MAX_PAGES:
        if limits.min > MAX_PAGES or (limits.max is not None and limits.max > MAX_PAGES):
            _fail("memory size must be at most 65536 pages (4GiB)", offset)
    if limits.max is not None and limits.min > limits.max:
        _fail("size minimum must not be greater than maximum", offset)


def _const_type(m: Module, e: ConstExpr, num_imported_globals: int) -> int:
    """The type of a constant expression; 2.0 lets global.get see imported globals only."""
    o = e.op
    if o == "i32.const":
        return I32
    if o == "i64.const":
        return I64
    if o == "f32.const":
        return F32
    if o == "f64.const":
        return F64
    if o == "v128.const":
        return V128
    if o == "ref.null":
        return e.value
    if o == "ref.func":
        if e.value >= len(m.func_types):
            _fail(f"unknown function {e.value}", e.offset)
        return RefType(False, m.func_types[e.value])
    if o == "global.get":
        if e.value >= num_imported_globals:
            _fail(f"unknown global {e.value}", e.offset)
        g = m.globals[e.value]
        if g.mutable:
            _fail("constant expression required", e.offset)
        return g.val_type
    _fail("constant expression required", e.offset)  # pragma: no cover - the decoder filters


def _check_const(m: Module, e: ConstExpr, expect: int, nig: int) -> None:
    t = _const_type(m, e, nig)
    if t != expect and not matches(t, expect, m):
        _fail(f"type mismatch: constant expression has type {type_name(t)}, "
              f"expected {type_name(expect)}", e.offset)


def _check_value_type(t, ntypes: int, offset: int | None = None) -> None:
    """A reference type's type index must exist (the decoder cannot know the type count)."""
    if type(t) is RefType and t.heap >= ntypes:
        _fail(f"unknown type {t.heap}", offset)


def validate(module: Module, bodies: bool = True) -> None:
    """Validate a decoded module; raise ValidationError (or DecodeError) if it is not valid.
    ``bodies=False`` leaves the function bodies to ``validate_bodies``."""
    m = module
    ntypes = len(m.types)
    nfuncs = len(m.func_types)
    nig = m.num_imported_globals

    # Types: a type index inside a type may name an earlier type or itself (without GC's
    # rec groups, every type is its own recursion group).
    for i, ft in enumerate(m.types):
        for t in ft.params + ft.results:
            _check_value_type(t, i + 1)
    # Function index space: every type index must exist.
    for i, ti in enumerate(m.func_types):
        if ti >= ntypes:
            _fail(f"unknown type {ti}", None, i)
    # Tags (imported ones included): a function type without results.
    for ti in m.tags:
        if ti >= ntypes:
            _fail(f"unknown type {ti}")
        if m.types[ti].results:
            _fail("non-empty tag result type")
    for imp in m.imports:
        if imp.kind == KIND_TABLE:
            _check_value_type(imp.desc.elem_type, ntypes)
        elif imp.kind == KIND_GLOBAL:
            _check_value_type(imp.desc.val_type, ntypes)
    for g in m.global_inits:
        _check_value_type(g.type.val_type, ntypes)
    for seg in m.elements:
        _check_value_type(seg.elem_type, ntypes)
    # Tables, memories, limits.
    for t in m.tables:
        _check_limits(t.limits, 2**32 - 1)
    for mem in m.memories:
        _check_limits(mem.limits, MAX_PAGES)
    if len(m.memories) > 1 and not m.features.multi_memory:
        _fail("multiple memories")
    # Tables' initialiser expressions (3.0).
    defined_tables = m.tables[m.num_imported_tables:]
    for t, init in zip(defined_tables, m.table_inits):
        _check_value_type(t.elem_type, ntypes)
        if init is not None:
            _check_const(m, init, t.elem_type, nig)
        elif not t.elem_type.nullable:
            _fail(f"type mismatch: a table of {type_name(t.elem_type)} needs an initialiser")
    # Globals.
    for g in m.global_inits:
        _check_const(m, g.init, g.type.val_type, nig)
    # Exports.
    seen = set()
    spaces = {KIND_FUNC: (nfuncs, "function"), KIND_TABLE: (len(m.tables), "table"),
              KIND_MEMORY: (len(m.memories), "memory"), KIND_GLOBAL: (len(m.globals), "global"),
              KIND_TAG: (len(m.tags), "tag")}
    for e in m.exports:
        if e.name in seen:
            _fail(f"duplicate export name {e.name!r}")
        seen.add(e.name)
        n, what = spaces[e.kind]
        if e.index >= n:
            _fail(f"unknown {what} {e.index}")
    # Start function.
    if m.start is not None:
        if m.start >= nfuncs:
            _fail(f"unknown function {m.start}")
        ft = m.types[m.func_types[m.start]]
        if ft.params or ft.results:
            _fail("start function must have type [] -> []", None, m.start)
    # Element segments.
    for seg in m.elements:
        for e in seg.init:
            _check_const(m, e, seg.elem_type, nig)
        if seg.mode == MODE_ACTIVE:
            if seg.table_index >= len(m.tables):
                _fail(f"unknown table {seg.table_index}", seg.offset.offset if seg.offset else None)
            if not matches(seg.elem_type, m.tables[seg.table_index].elem_type, m):
                _fail("type mismatch: element segment type does not match the table",
                      seg.offset.offset if seg.offset else None)
            _check_const(m, seg.offset, I32, nig)
    # Data segments.
    for seg in m.data:
        if seg.mode == MODE_ACTIVE:
            if seg.memory_index >= len(m.memories):
                _fail(f"unknown memory {seg.memory_index}", seg.offset.offset if seg.offset else None)
            _check_const(m, seg.offset, I32, nig)
    # Function bodies.
    if bodies:
        validate_bodies(m, 0, len(m.bodies))
        # Every body was seen here: the translator need not scan them for tail calls.
        m.uses_tail_calls = m.__dict__.pop("_tail_calls_seen", False)


def validate_bodies(module: Module, first: int, end: int) -> None:
    """Validate function bodies ``first .. end - 1`` (indices into ``module.bodies``): the
    part of validation that can be split over processes."""
    ctx = _Context(module)
    base = len(module.func_types) - len(module.bodies)
    for i in range(first, end):
        _validate_body(ctx, base + i, module.bodies[i])


# --- exception handling: throw, throw_ref, try_table ---------------------------------------

try:
    from .binary.subtype import matches as _matches
except ImportError:   # until typed references' subtyping lands: exn refs are what these rules need
    def _matches(actual, expected, module=None) -> bool:
        if actual == expected or actual == UNKNOWN:
            return True
        if type(actual) is RefType and type(expected) is RefType and expected.heap == HT_EXN:
            return actual.heap in (HT_EXN, HT_NOEXN) and (expected.nullable or not actual.nullable)
        return False

_EXN_NONNULL = RefType(False, HT_EXN)   # what catch_ref / catch_all_ref pass to their label


def _tag_params(ctx: "_Context", index: int) -> list:
    m = ctx.module
    if index >= len(m.tags):
        raise _Invalid(f"unknown tag {index}")
    return ctx.types[m.tags[index]][0]


def _exception_instr(ctx: "_Context", code: int, imm, stack: list, ctrls: list) -> None:
    """throw x, throw_ref, try_table bt catch* (which opens a block)."""
    if code == _C["throw"]:
        _pop_vals(stack, ctrls, _tag_params(ctx, imm))
        _set_unreachable(stack, ctrls)
        return
    if code == _C["throw_ref"]:
        t = _pop(stack, ctrls)
        if not _matches(t, EXNREF, ctx.module):
            raise _Invalid("type mismatch: throw_ref needs an exnref")
        _set_unreachable(stack, ctrls)
        return
    bt = imm.blocktype
    if type(bt) is RefType:
        got = ([], [bt])
    else:
        got = ctx.block_types.get(bt) if bt < 0 else (ctx.types[bt] if bt < len(ctx.types) else None)
    if got is None:
        raise _Invalid(f"unknown type {bt}")
    bparams, bresults = got
    # The catches' labels are counted from outside the try_table.
    for c in imm.catches:
        sent = [] if c.tag is None else list(_tag_params(ctx, c.tag))
        if c.kind in (op.CATCH_REF, op.CATCH_ALL_REF):
            sent.append(_EXN_NONNULL)
        lt = _label_types(ctrls, c.label)
        if len(lt) != len(sent) or not all(_matches(a, e, ctx.module) for a, e in zip(sent, lt)):
            raise _Invalid("type mismatch: catch clause does not match its label's types")
    _pop_vals(stack, ctrls, bparams)
    ctrls.append([_K_BLOCK, bparams, bresults, len(stack), False])
    stack.extend(bparams)


# --- function bodies ------------------------------------------------------------------------

def _validate_body(ctx: _Context, func_index: int, body) -> None:
    m = ctx.module
    data = m.raw
    params, results = ctx.types[m.func_types[func_index]]
    locals_ = params + body.locals
    nlocals = len(locals_)
    types = ctx.types
    func_types = ctx.func_types
    nfuncs = len(func_types)
    globals_ = ctx.globals
    numeric = NUMERIC_SIGS
    memsigs = MEMORY_SIGS
    kind_of = _KIND_OF
    code_end = body.code_end

    # Locals of a non-defaultable type ((ref $t)) must be set before they are read; the
    # spec's algorithm: `initialised`, and `inits` (the locals set since each frame began).
    nparams = len(params)
    track = False
    for j, t in enumerate(body.locals):
        if type(t) is RefType:
            if t.heap >= len(types):
                raise ValidationError(f"unknown type {t.heap}", body.code_start, func_index)
            if not t.nullable:
                if not track:
                    track = True
                    initialised = [True] * nlocals
                    inits: list[int] = []
                initialised[nparams + j] = False

    stack: list[int] = []
    # A control frame: [kind, params, results, height, unreachable, inits height].
    ctrls = _Ctrls([[_K_BLOCK, [], results, 0, False, 0]])
    ctrls.module = m
    height = 0
    at = body.code_start
    try:
        for at, code, imm in iter_instructions(data, body.code_start, code_end, features=m.features):
            sig = numeric.get(code)
            if sig is not None:
                pops, push = sig
                n = len(pops)
                if n:
                    if len(stack) - n >= height and stack[-n:] == pops:
                        del stack[-n:]
                    else:
                        _pop_vals(stack, ctrls, pops)
                stack.append(push)
                continue
            k = kind_of[code]
            if k == _K_LOCAL_GET:
                if imm >= nlocals:
                    raise _Invalid(f"unknown local {imm}")
                if track and not initialised[imm]:
                    raise _Invalid("uninitialized local")
                stack.append(locals_[imm])
            elif k == _K_LOCAL_SET or k == _K_LOCAL_TEE:
                if imm >= nlocals:
                    raise _Invalid(f"unknown local {imm}")
                if track and not initialised[imm]:
                    initialised[imm] = True
                    inits.append(imm)
                t = locals_[imm]
                if len(stack) > height and stack[-1] == t:
                    if k == _K_LOCAL_SET:
                        stack.pop()
                else:
                    _pop_expect(stack, ctrls, t)
                    if k == _K_LOCAL_TEE:
                        stack.append(t)
            elif k == _K_MEMORY:
                if imm.memory >= ctx.num_memories:
                    raise _Invalid(f"unknown memory {imm.memory}")
                pops, push, max_align = memsigs[code]
                if imm.align > max_align:
                    raise _Invalid("alignment must not be larger than natural")
                if imm.lane is not None and imm.lane >= SIMD_LANES[code]:
                    raise _Invalid("invalid lane index")
                n = len(pops)
                if len(stack) - n >= height and stack[-n:] == pops:
                    del stack[-n:]
                else:
                    _pop_vals(stack, ctrls, pops)
                if push:
                    stack.append(push)
            elif k == _K_CALL:
                if imm >= nfuncs:
                    raise _Invalid(f"unknown function {imm}")
                fparams, fresults = types[func_types[imm]]
                _pop_vals(stack, ctrls, fparams)
                stack.extend(fresults)
            elif k == _K_BR_IF:
                if len(stack) > height and stack[-1] == I32:
                    stack.pop()
                else:
                    _pop_expect(stack, ctrls, I32)
                lt = _label_types(ctrls, imm)
                _pop_vals(stack, ctrls, lt)       # 2.0: br_if pushes the label's types back
                stack.extend(lt)
            elif k == _K_END:
                frame = ctrls[-1]
                fres = frame[2]
                h = frame[3]
                if not (len(stack) == h + len(fres) and stack[h:] == fres):
                    _pop_vals(stack, ctrls, fres)
                    if len(stack) != h:
                        raise _Invalid("type mismatch")
                    stack.extend(fres)
                if frame[0] == _K_IF and frame[1] != fres and not matches_all(frame[1], fres, m):
                    raise _Invalid("type mismatch: if without else must leave its parameters unchanged")
                if track:
                    _reset_locals(ctrls, inits, initialised)
                ctrls.pop()
                if not ctrls:
                    if at != code_end - 1:
                        raise DecodeError("section size mismatch: instructions after the function's final end", at + 1)
                    return
                height = ctrls[-1][3]
            elif k == _K_BLOCK or k == _K_LOOP or k == _K_IF:
                if type(imm) is RefType:
                    if imm.heap >= len(types):
                        raise _Invalid(f"unknown type {imm.heap}")
                    bt = ([], [imm])
                else:
                    bt = ctx.block_types.get(imm) if imm < 0 else None
                if bt is None:
                    if imm < 0 or imm >= len(types):
                        raise _Invalid(f"unknown type {imm}")
                    bt = types[imm]
                if k == _K_IF:
                    if len(stack) > height and stack[-1] == I32:
                        stack.pop()
                    else:
                        _pop_expect(stack, ctrls, I32)
                bparams, bresults = bt
                _pop_vals(stack, ctrls, bparams)
                height = len(stack)
                ctrls.append([k, bparams, bresults, height, False, len(inits) if track else 0])
                stack.extend(bparams)
            elif k == _K_GLOBAL_GET:
                if imm >= len(globals_):
                    raise _Invalid(f"unknown global {imm}")
                stack.append(globals_[imm].val_type)
            elif k == _K_GLOBAL_SET:
                if imm >= len(globals_):
                    raise _Invalid(f"unknown global {imm}")
                g = globals_[imm]
                if not g.mutable:
                    raise _Invalid("global is immutable")
                _pop_expect(stack, ctrls, g.val_type)
            elif k == _K_BR:
                _pop_vals(stack, ctrls, _label_types(ctrls, imm))
                _set_unreachable(stack, ctrls)
            elif k == _K_ELSE:
                frame = ctrls[-1]
                if frame[0] != _K_IF:
                    raise _Invalid("else without matching if")
                fres = frame[2]
                h = frame[3]
                _pop_vals(stack, ctrls, fres)
                if len(stack) != h:
                    raise _Invalid("type mismatch")
                frame[0] = _K_ELSE
                frame[4] = False
                if track:
                    _reset_locals(ctrls, inits, initialised)
                stack.extend(frame[1])
            elif k == _K_RETURN:
                _pop_vals(stack, ctrls, results)
                _set_unreachable(stack, ctrls)
            elif k == _K_UNREACHABLE:
                _set_unreachable(stack, ctrls)
            elif k == _K_DROP:
                _pop(stack, ctrls)
            elif k == _K_SELECT:
                _pop_expect(stack, ctrls, I32)
                t1 = _pop(stack, ctrls)
                t2 = _pop(stack, ctrls)
                if t1 not in _NUM or t2 not in _NUM:
                    raise _Invalid("type mismatch: select without type needs numeric operands")
                if t1 != t2 and t1 != UNKNOWN and t2 != UNKNOWN:
                    raise _Invalid("type mismatch")
                stack.append(t2 if t1 == UNKNOWN else t1)
            elif k == _K_SELECT_T:
                if len(imm) != 1:
                    raise _Invalid("invalid result arity")
                t = imm[0]
                if type(t) is RefType and t.heap >= len(types):
                    raise _Invalid(f"unknown type {t.heap}")
                _pop_expect(stack, ctrls, I32)
                _pop_expect(stack, ctrls, t)
                _pop_expect(stack, ctrls, t)
                stack.append(t)
            elif k == _K_BR_TABLE:
                labels, default = imm
                _pop_expect(stack, ctrls, I32)
                dtypes = _label_types(ctrls, default)
                arity = len(dtypes)
                for lab in labels:
                    lt = _label_types(ctrls, lab)
                    if len(lt) != arity:
                        raise _Invalid("type mismatch: br_table targets have different arities")
                    stack.extend(_pop_vals_keep(stack, ctrls, lt))
                _pop_vals(stack, ctrls, dtypes)
                _set_unreachable(stack, ctrls)
            elif k == _K_NOP:
                pass
            elif k == _K_LANE:
                lane_max = max(imm) if isinstance(imm, tuple) else imm   # i8x16.shuffle: 16 lanes
                if lane_max >= SIMD_LANES[code]:
                    raise _Invalid("invalid lane index")
                pops, push = _LANE_SIGS[code]
                _pop_vals(stack, ctrls, pops)
                stack.append(push)
            elif k == _K_CALL_INDIRECT:
                ti, tab = imm
                if tab >= len(ctx.tables):
                    raise _Invalid(f"unknown table {tab}")
                if ctx.tables[tab] != FUNCREF and not matches(ctx.tables[tab], FUNCREF, m):
                    raise _Invalid("type mismatch: call_indirect needs a funcref table")
                if ti >= len(types):
                    raise _Invalid(f"unknown type {ti}")
                _pop_expect(stack, ctrls, I32)
                fparams, fresults = types[ti]
                _pop_vals(stack, ctrls, fparams)
                stack.extend(fresults)
            elif k == _K_MEMORY_SIZE or k == _K_MEMORY_GROW:
                if imm >= ctx.num_memories:
                    raise _Invalid(f"unknown memory {imm}")
                if k == _K_MEMORY_GROW:
                    _pop_expect(stack, ctrls, I32)
                stack.append(I32)
            elif k == _K_REF_NULL:
                if imm >= len(types):
                    raise _Invalid(f"unknown type {imm}")
                stack.append(RefType(True, imm))
            elif k == _K_REF_IS_NULL:
                t = _pop(stack, ctrls)
                if type(t) is not RefType and t != UNKNOWN:
                    raise _Invalid("type mismatch: ref.is_null needs a reference")
                stack.append(I32)
            elif k == _K_REF_FUNC:
                if imm >= nfuncs:
                    raise _Invalid(f"unknown function {imm}")
                if imm not in ctx.refs:
                    raise _Invalid("undeclared function reference")
                stack.append(RefType(False, func_types[imm]))
            elif k == _K_MEMORY_INIT or k == _K_DATA_DROP:
                if ctx.data_count is None:
                    raise DecodeError("data count section required", at)
                data_index, mem = imm if k == _K_MEMORY_INIT else (imm, 0)
                if k == _K_MEMORY_INIT and mem >= ctx.num_memories:
                    raise _Invalid(f"unknown memory {mem}")
                if data_index >= ctx.data_count:
                    raise _Invalid(f"unknown data segment {data_index}")
                if k == _K_MEMORY_INIT:
                    _pop_vals(stack, ctrls, _I32x3)
            elif k == _K_MEMORY_COPY or k == _K_MEMORY_FILL:
                for mem in (imm if k == _K_MEMORY_COPY else (imm,)):
                    if mem >= ctx.num_memories:
                        raise _Invalid(f"unknown memory {mem}")
                _pop_vals(stack, ctrls, _I32x3)
            elif k == _K_TABLE_GET or k == _K_TABLE_SET or k == _K_TABLE_SIZE \
                    or k == _K_TABLE_GROW or k == _K_TABLE_FILL:
                if imm >= len(ctx.tables):
                    raise _Invalid(f"unknown table {imm}")
                et = ctx.tables[imm]
                if k == _K_TABLE_GET:
                    _pop_expect(stack, ctrls, I32)
                    stack.append(et)
                elif k == _K_TABLE_SET:
                    _pop_vals(stack, ctrls, [I32, et])
                elif k == _K_TABLE_SIZE:
                    stack.append(I32)
                elif k == _K_TABLE_GROW:
                    _pop_vals(stack, ctrls, [et, I32])
                    stack.append(I32)
                else:
                    _pop_vals(stack, ctrls, [I32, et, I32])
            elif k == _K_TABLE_COPY:
                dst, src = imm
                if dst >= len(ctx.tables):
                    raise _Invalid(f"unknown table {dst}")
                if src >= len(ctx.tables):
                    raise _Invalid(f"unknown table {src}")
                if not matches(ctx.tables[src], ctx.tables[dst], m):
                    raise _Invalid("type mismatch: table.copy between tables of different types")
                _pop_vals(stack, ctrls, _I32x3)
            elif k == _K_TABLE_INIT:
                elem, tab = imm
                if tab >= len(ctx.tables):
                    raise _Invalid(f"unknown table {tab}")
                if elem >= ctx.num_elems:
                    raise _Invalid(f"unknown elem segment {elem}")
                if not matches(m.elements[elem].elem_type, ctx.tables[tab], m):
                    raise _Invalid("type mismatch: element segment type does not match the table")
                _pop_vals(stack, ctrls, _I32x3)
            elif k == _K_ELEM_DROP:
                if imm >= ctx.num_elems:
                    raise _Invalid(f"unknown elem segment {imm}")
            elif k == _K_EXN:
                _exception_instr(ctx, code, imm, stack, ctrls)
                height = ctrls[-1][3]
            elif _K_CALL_REF <= k <= _K_BR_ON_NON_NULL:
                _typed_reference_instruction(k, imm, stack, ctrls, ctx, results)
                if k == _K_RETURN_CALL or k == _K_RETURN_CALL_INDIRECT or k == _K_RETURN_CALL_REF:
                    m._tail_calls_seen = True
            elif k == _K_NOT_YET:
                raise _Invalid(f"{op.NAME[code]} is not supported yet")
            else:  # pragma: no cover - _KIND_OF and this chain must agree
                raise AssertionError(op.NAME.get(code, code))
    except _Invalid as e:
        raise ValidationError(e.args[0], at, func_index) from None
    raise DecodeError("END opcode expected: function body ends inside a block", code_end)


def _typed_reference_instruction(k: int, imm, stack: list, ctrls: _Ctrls, ctx: _Context, results) -> None:
    """call_ref, the tail calls, ref.as_non_null, br_on_null, br_on_non_null (rare: off the
    body loop's chain)."""
    m = ctx.module
    types = ctx.types
    if k == _K_CALL_REF or k == _K_RETURN_CALL_REF:
        if imm >= len(types):
            raise _Invalid(f"unknown type {imm}")
        _pop_expect(stack, ctrls, RefType(True, imm))
        fparams, fresults = types[imm]
    elif k == _K_RETURN_CALL:
        if imm >= len(ctx.func_types):
            raise _Invalid(f"unknown function {imm}")
        fparams, fresults = types[ctx.func_types[imm]]
    elif k == _K_RETURN_CALL_INDIRECT:
        ti, tab = imm
        if tab >= len(ctx.tables):
            raise _Invalid(f"unknown table {tab}")
        if not matches(ctx.tables[tab], FUNCREF, m):
            raise _Invalid("type mismatch: call_indirect needs a funcref table")
        if ti >= len(types):
            raise _Invalid(f"unknown type {ti}")
        _pop_expect(stack, ctrls, I32)
        fparams, fresults = types[ti]
    elif k == _K_REF_AS_NON_NULL:
        rt = _pop_ref(stack, ctrls)
        stack.append(RefType(False, rt.heap))
        return
    else:
        lt = _label_types(ctrls, imm)
        rt = _pop_ref(stack, ctrls)
        if k == _K_BR_ON_NULL:            # [t* (ref null ht)] -> [t* (ref ht)], label [t*]
            _pop_vals(stack, ctrls, lt)
            stack.extend(lt)
            stack.append(RefType(False, rt.heap))
        else:                             # [t* (ref null ht)] -> [t*], label [t* rt'] with (ref ht) <: rt'
            if not lt:
                raise _Invalid("type mismatch: br_on_non_null needs a label taking a reference")
            stack.append(RefType(False, rt.heap))
            _pop_vals(stack, ctrls, lt)
            stack.extend(lt[:-1])
        return
    if k == _K_CALL_REF:
        _pop_vals(stack, ctrls, fparams)
        stack.extend(fresults)
        return
    _check_return(results, fresults, m)
    _pop_vals(stack, ctrls, fparams)
    _set_unreachable(stack, ctrls)
