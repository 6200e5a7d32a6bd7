"""The WebAssembly validation algorithm (2.0 with SIMD; 3.0 as it lands), over a decoded ``Module``.

``validate(module)`` returns None or raises ``ValidationError(message, offset,
func_index)``; messages follow the spec interpreter's wording ("type mismatch",
"unknown local", ...).  The bodies are read here, by the decoder's
``iter_instructions``: what the spec classes as *malformed* in them (an unknown
opcode, a body that does not end exactly at its last byte, memory.init/data.drop
without a data count section) is its ``DecodeError``, raised through ``validate``.

Function bodies follow the algorithm of the spec's appendix ("Validation
Algorithm"): an operand stack of value types, where ``UNKNOWN`` stands for the
bottom type of polymorphic (unreachable) code, and a stack of control frames
(``Frame``).  The opcode table (runner/binary/opcodes.py) gives each operator's
stack effect: the numeric ones are checked inline by the body loop (a dict lookup,
with a fast path when the stack holds exactly the expected types), loads/stores and
lane instructions by one rule each made from their rows, and every other operator by
the ``_Body`` method named after it (``local_get``, ``br_table``, ``if_``, ...).
The rules raise ``_Invalid``, which the loop turns into a ``ValidationError``
carrying the current instruction's offset.
"""
from __future__ import annotations

from dataclasses import dataclass

from .binary import opcodes as op
from .binary.decode import iter_instructions
from .binary.module import (EXNREF, F32, F64, FUNCREF, HT_EXN, I32, I64, V128, KIND_FUNC, KIND_GLOBAL, KIND_MEMORY,
                            KIND_TABLE, KIND_TAG, MODE_ACTIVE, ConstExpr, Module, RefType, type_name)
from .binary.subtype import HT_BOT, matches, matches_all
from .errors import ValidationError

__all__ = ["validate", "validate_bodies"]

UNKNOWN = 0                 # the bottom type of unreachable code; matches every value type
MAX_PAGES = 65536
MAX_PAGES64 = 1 << 48       # a 64-bit memory's limit (pages of 64 KiB: 2^64 bytes)
BLOCKTYPE_EMPTY = -64
_NUM = frozenset((I32, I64, F32, F64, V128, UNKNOWN))


class _Invalid(Exception):
    """Raised by the rules; the body loop adds the instruction offset."""


# --- stack effects from the opcode table -----------------------------------------------------

def _signatures():
    """From the table's stack effects: ``{code: (pops, push)}`` for the instructions the body
    loop checks inline (push 0 = nothing), ``{code: (pops, push, max_align_log2)}`` for loads
    and stores (pops[0] the address: i32, i64 for memory64), ``{code: lane count}``.  Lists,
    not tuples: the fast path compares them with slices of the operand stack."""
    simple: dict[int, tuple[list, int]] = {}
    memory: dict[int, tuple[list, int, int]] = {}
    lanes: dict[int, int] = {}
    for code, o in op.OPERATORS.items():
        if o.pops is None:
            continue
        assert len(o.pushes) <= 1, o.name
        push = o.pushes[0] if o.pushes else 0
        if o.access:
            memory[code] = ([I32, *o.pops[1:]], push, o.access.bit_length() - 1)
        else:
            simple[code] = (list(o.pops), push)
        if o.lanes:
            lanes[code] = o.lanes
    return simple, memory, lanes


NUMERIC_SIGS, MEMORY_SIGS, SIMD_LANES = _signatures()
# Lane-immediate instructions (not loads/stores) leave the fast path: their rule checks the lane.
_LANE_SIGS = {c: NUMERIC_SIGS.pop(c) for c in SIMD_LANES if c in NUMERIC_SIGS}


# --- control frames ---------------------------------------------------------------------------

@dataclass(slots=True)
class Frame:
    """One entry of the control stack (the spec's ``ctrl_frame``)."""

    kind: int                   # the opcode that opened it (block, loop, if, else, try_table)
    params: list                # start types
    results: list               # end types
    labels: list                # what a branch to it carries: params for a loop, else results
    height: int                 # the operand stack's height at its start
    init_height: int            # len(inits) at its start (3.0: locals to reset at its end)
    unreachable: bool = False


def _frame(kind: int, params: list, results: list, height: int, init_height: int) -> Frame:
    return Frame(kind, params, results, params if kind == op.LOOP else results, height, init_height)


# --- module-level rules ---------------------------------------------------------------------

class _Context:
    """What the body validator needs to know about the module (the spec's context C)."""

    __slots__ = ("module", "types", "func_types", "globals", "tables", "num_memories",
                 "num_elems", "data_count", "refs", "block_types", "mem_addr", "table_addr")

    def __init__(self, m: Module):
        self.module = m
        self.types = [(list(t.params), list(t.results)) for t in m.types]
        self.func_types = m.func_types
        self.globals = m.globals
        self.tables = [t.elem_type for t in m.tables]
        self.num_memories = len(m.memories)
        # The address / index type of each memory and table: i64 for memory64 / table64.
        self.mem_addr = [I64 if mt.is64 else I32 for mt in m.memories]
        self.table_addr = [I64 if tt.is64 else I32 for tt in m.tables]
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
    elif bound == MAX_PAGES64:
        if limits.min > MAX_PAGES64 or (limits.max is not None and limits.max > MAX_PAGES64):
            _fail("memory size must be at most 2^48 pages", offset)
    if limits.max is not None and limits.min > limits.max:
        _fail("size minimum must not be greater than maximum", offset)


_CONST_ARITH = {"i32.add": I32, "i32.sub": I32, "i32.mul": I32, "i64.add": I64, "i64.sub": I64, "i64.mul": I64}


def _check_const_shapes(m: Module) -> None:
    """Every constant expression, in the order of the binary (tables, globals, elements,
    data): only constant instructions, and one of them unless extended constants are on."""
    exprs = [e for e in m.table_inits if e is not None] + [g.init for g in m.global_inits]
    for seg in m.elements:
        exprs += ([seg.offset] if seg.offset is not None else []) + list(seg.init)
    exprs += [seg.offset for seg in m.data if seg.offset is not None]
    for e in exprs:
        if e.op != "seq":
            continue
        for ins in e.value:
            if ins.op == "non-constant":
                _fail("constant expression required", ins.offset)
        if not m.features.extended_const:
            _fail("type mismatch: constant expression must produce exactly one value", e.offset)


def _const_type(m: Module, e: ConstExpr, visible_globals: int):
    """The type of a constant expression whose ``global.get`` may read globals
    ``0 .. visible_globals - 1`` (2.0: the imported ones; 3.0: also the defined ones before
    a global, all of them in a segment)."""
    if e.op != "seq":
        return _const_instr_type(m, e, visible_globals)
    stack = []
    for ins in e.value:
        t = _CONST_ARITH.get(ins.op)
        if t is None:
            stack.append(_const_instr_type(m, ins, visible_globals))
        elif len(stack) < 2 or stack[-1] != t or stack[-2] != t:
            _fail(f"type mismatch: {ins.op} needs two {type_name(t)} operands", ins.offset)
        else:
            stack.pop()
    if len(stack) != 1:
        _fail("type mismatch: constant expression must produce exactly one value", e.offset)
    return stack[0]


def _const_instr_type(m: Module, e: ConstExpr, num_imported_globals: int):
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
    _fail("constant expression required", e.offset)  # "non-constant" (``_check_const_shapes`` saw it first)


def _check_const(m: Module, e: ConstExpr, expect, nig: int) -> None:
    t = _const_type(m, e, nig)
    if t != expect and not matches(t, expect, m):
        _fail(f"type mismatch: constant expression has type {type_name(t)}, "
              f"expected {type_name(expect)}", e.offset)


def _check_value_type(t, ntypes: int, offset: int | None = None) -> None:
    """A reference type's type index must exist (the decoder cannot know the type count)."""
    if type(t) is RefType and t.heap >= ntypes:
        _fail(f"unknown type {t.heap}", offset)


def validate(module: Module, bodies: bool = True) -> None:
    """Validate a decoded module; raise ValidationError if it is not valid (DecodeError if a
    function body is malformed: see the module docstring).
    ``bodies=False`` leaves the function bodies to ``validate_bodies``."""
    m = module
    ntypes = len(m.types)
    nfuncs = len(m.func_types)
    nig = m.num_imported_globals
    # 3.0 (with extended constants): global.get in a constant expression may read any
    # immutable global defined before it (all of them, in a segment); 2.0: imported ones only.
    later = m.features.extended_const
    all_globals = len(m.globals) if later else nig

    _check_const_shapes(m)

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
        _check_limits(t.limits, 2**64 - 1 if t.is64 else 2**32 - 1)
    for mem in m.memories:
        _check_limits(mem.limits, MAX_PAGES64 if mem.is64 else MAX_PAGES)
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
    for j, g in enumerate(m.global_inits):
        _check_const(m, g.init, g.type.val_type, nig + j if later else nig)
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
            _check_const(m, e, seg.elem_type, all_globals)
        if seg.mode == MODE_ACTIVE:
            if seg.table_index >= len(m.tables):
                _fail(f"unknown table {seg.table_index}", seg.offset.offset if seg.offset else None)
            if not matches(seg.elem_type, m.tables[seg.table_index].elem_type, m):
                _fail("type mismatch: element segment type does not match the table",
                      seg.offset.offset if seg.offset else None)
            _check_const(m, seg.offset, I64 if m.tables[seg.table_index].is64 else I32, all_globals)
    # Data segments.
    for seg in m.data:
        if seg.mode == MODE_ACTIVE:
            if seg.memory_index >= len(m.memories):
                _fail(f"unknown memory {seg.memory_index}", seg.offset.offset if seg.offset else None)
            _check_const(m, seg.offset, I64 if m.memories[seg.memory_index].is64 else I32, all_globals)
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


# --- function bodies ------------------------------------------------------------------------

_EXN_NONNULL = RefType(False, HT_EXN)   # what catch_ref / catch_all_ref pass to their label
_TRY_TABLE = op.CODE["try_table"]
_LOCAL_GET = op.CODE["local.get"]


class _Body:
    """The state of one function body's validation, and the rules of the operators whose
    stack effect the opcode table does not give (one method each, named after it)."""

    __slots__ = ("ctx", "module", "types", "stack", "ctrls", "locals", "track", "initialised", "inits",
                 "results")

    def __init__(self, ctx: "_Context", func_index: int, body):
        m = ctx.module
        self.ctx = ctx
        self.module = m
        self.types = ctx.types
        params, self.results = ctx.types[m.func_types[func_index]]
        self.locals = params + body.locals
        # Locals of a non-defaultable type ((ref $t)) must be set before they are read; the
        # spec's algorithm: `initialised`, and `inits` (the locals set since each frame began).
        self.track = False
        self.initialised: list[bool] = []
        self.inits: list[int] = []
        for j, t in enumerate(body.locals):
            if type(t) is RefType:
                if t.heap >= len(self.types):
                    raise ValidationError(f"unknown type {t.heap}", body.code_start, func_index)
                if not t.nullable:
                    if not self.track:
                        self.track = True
                        self.initialised = [True] * len(self.locals)
                    self.initialised[len(params) + j] = False
        self.stack: list = []
        self.ctrls: list[Frame] = [_frame(op.BLOCK, [], self.results, 0, 0)]

    # --- the operand stack (the slow paths) ---------------------------------------------------
    def pop(self):
        frame = self.ctrls[-1]
        if len(self.stack) == frame.height:
            if frame.unreachable:
                return UNKNOWN
            raise _Invalid("type mismatch")
        return self.stack.pop()

    def pop_expect(self, expect):
        frame = self.ctrls[-1]
        stack = self.stack
        if len(stack) == frame.height:
            if frame.unreachable:
                return UNKNOWN
            raise _Invalid("type mismatch")
        actual = stack.pop()
        if actual != expect and not matches(actual, expect, self.module):
            raise _Invalid("type mismatch")
        return actual

    def pop_ref(self):
        """Pop a reference; unknown in unreachable code is ``(ref bot)`` (matches every reference)."""
        t = self.pop()
        if t == UNKNOWN:
            return RefType(False, HT_BOT)
        if type(t) is not RefType:
            raise _Invalid("type mismatch: a reference is expected")
        return t

    def pop_vals(self, types: list) -> None:
        """Pop ``types`` (last one on top); fast when the stack holds exactly them."""
        n = len(types)
        if not n:
            return
        stack = self.stack
        if len(stack) - n >= self.ctrls[-1].height and stack[-n:] == types:
            del stack[-n:]
            return
        for t in reversed(types):
            self.pop_expect(t)

    def pop_vals_keep(self, types: list) -> list:
        """Pop ``types`` and return what was popped (Unknown stays Unknown, as in the spec)."""
        n = len(types)
        if not n:
            return []
        stack = self.stack
        if len(stack) - n >= self.ctrls[-1].height and stack[-n:] == types:
            popped = stack[-n:]
            del stack[-n:]
            return popped
        popped = [self.pop_expect(t) for t in reversed(types)]
        popped.reverse()
        return popped

    def pop_i32(self) -> None:
        stack = self.stack
        if len(stack) > self.ctrls[-1].height and stack[-1] == I32:
            stack.pop()
        else:
            self.pop_expect(I32)

    def set_unreachable(self) -> None:
        frame = self.ctrls[-1]
        del self.stack[frame.height:]
        frame.unreachable = True

    def label_types(self, depth: int) -> list:
        if depth >= len(self.ctrls):
            raise _Invalid(f"unknown label {depth}")
        return self.ctrls[-1 - depth].labels

    def reset_locals(self) -> None:
        """Leaving a block: locals it initialised are uninitialised again (3.0's local rule)."""
        h = self.ctrls[-1].init_height
        inits, initialised = self.inits, self.initialised
        while len(inits) > h:
            initialised[inits.pop()] = False

    def block_type(self, imm) -> tuple[list, list]:
        """A block type immediate's (params, results)."""
        types = self.types
        if type(imm) is RefType:
            if imm.heap >= len(types):
                raise _Invalid(f"unknown type {imm.heap}")
            return [], [imm]
        bt = self.ctx.block_types.get(imm) if imm < 0 else None
        if bt is None:
            if imm < 0 or imm >= len(types):
                raise _Invalid(f"unknown type {imm}")
            bt = types[imm]
        return bt

    def push_frame(self, kind: int, params: list, results: list) -> None:
        if params:
            self.pop_vals(params)
        self.ctrls.append(_frame(kind, params, results, len(self.stack), len(self.inits)))
        self.stack.extend(params)

    def check_local(self, index: int):
        if index >= len(self.locals):
            raise _Invalid(f"unknown local {index}")
        return self.locals[index]

    def check_global(self, index: int):
        if index >= len(self.ctx.globals):
            raise _Invalid(f"unknown global {index}")
        return self.ctx.globals[index]

    def check_func(self, index: int) -> tuple[list, list]:
        if index >= len(self.ctx.func_types):
            raise _Invalid(f"unknown function {index}")
        return self.types[self.ctx.func_types[index]]

    def check_type(self, index: int) -> tuple[list, list]:
        if index >= len(self.types):
            raise _Invalid(f"unknown type {index}")
        return self.types[index]

    def check_table(self, index: int):
        if index >= len(self.ctx.tables):
            raise _Invalid(f"unknown table {index}")
        return self.ctx.tables[index]

    def check_memory(self, index: int) -> int:
        """The memory's address type."""
        if index >= self.ctx.num_memories:
            raise _Invalid(f"unknown memory {index}")
        return self.ctx.mem_addr[index]

    def check_elem(self, index: int) -> None:
        if index >= self.ctx.num_elems:
            raise _Invalid(f"unknown elem segment {index}")

    def check_data(self, index: int) -> None:
        # (without a data count section iter_instructions has rejected the instruction)
        if index >= self.ctx.data_count:
            raise _Invalid(f"unknown data segment {index}")

    def check_indirect(self, type_index: int, table: int) -> tuple[list, list]:
        """call_indirect's immediates: (params, results) of the type."""
        et = self.check_table(table)
        if et != FUNCREF and not matches(et, FUNCREF, self.module):
            raise _Invalid("type mismatch: call_indirect needs a funcref table")
        return self.check_type(type_index)

    def check_tail_call(self, fresults: list) -> None:
        """A tail call's callee must return what the caller returns."""
        if not matches_all(fresults, self.results, self.module):
            raise _Invalid("type mismatch: tail call's results do not match the function's")
        self.module._tail_calls_seen = True

    def tag_params(self, index: int) -> list:
        m = self.module
        if index >= len(m.tags):
            raise _Invalid(f"unknown tag {index}")
        return self.types[m.tags[index]][0]

    # --- control ----------------------------------------------------------------------------
    def unreachable(self, imm) -> None:
        self.set_unreachable()

    def nop(self, imm) -> None:
        pass

    def block(self, imm) -> None:
        bt = self.ctx.block_types.get(imm) if type(imm) is int else None   # the usual [] -> [t?]
        self.push_frame(op.BLOCK, *(bt or self.block_type(imm)))

    def loop(self, imm) -> None:
        bt = self.ctx.block_types.get(imm) if type(imm) is int else None
        self.push_frame(op.LOOP, *(bt or self.block_type(imm)))

    def if_(self, imm) -> None:
        bt = self.block_type(imm)
        self.pop_i32()
        self.push_frame(op.IF, *bt)

    def else_(self, imm) -> None:
        frame = self.ctrls[-1]
        if frame.kind != op.IF:
            raise _Invalid("else without matching if")
        self.pop_vals(frame.results)
        if len(self.stack) != frame.height:
            raise _Invalid("type mismatch")
        frame.kind = op.ELSE
        frame.unreachable = False
        if self.track:
            self.reset_locals()
        self.stack.extend(frame.params)

    def end(self, imm) -> None:
        frame = self.ctrls[-1]
        stack = self.stack
        fres = frame.results
        h = frame.height
        if not (len(stack) == h + len(fres) and stack[h:] == fres):
            self.pop_vals(fres)
            if len(stack) != h:
                raise _Invalid("type mismatch")
            stack.extend(fres)
        if frame.kind == op.IF and frame.params != fres and not matches_all(frame.params, fres, self.module):
            raise _Invalid("type mismatch: if without else must leave its parameters unchanged")
        if self.track:
            self.reset_locals()
        self.ctrls.pop()      # the last one: the body loop checks that the body ends here

    def br(self, imm) -> None:
        self.pop_vals(self.label_types(imm))
        self.set_unreachable()

    def br_if(self, imm) -> None:
        self.pop_i32()
        lt = self.label_types(imm)
        if lt:
            self.pop_vals(lt)          # 2.0: br_if pushes the label's types back
            self.stack.extend(lt)

    def br_table(self, imm) -> None:
        labels, default = imm
        self.pop_expect(I32)
        dtypes = self.label_types(default)
        arity = len(dtypes)
        for lab in labels:
            lt = self.label_types(lab)
            if len(lt) != arity:
                raise _Invalid("type mismatch: br_table targets have different arities")
            self.stack.extend(self.pop_vals_keep(lt))
        self.pop_vals(dtypes)
        self.set_unreachable()

    def return_(self, imm) -> None:
        self.pop_vals(self.results)
        self.set_unreachable()

    # --- calls and tail calls -----------------------------------------------------------------
    def call(self, imm) -> None:
        fparams, fresults = self.check_func(imm)
        self.pop_vals(fparams)
        self.stack.extend(fresults)

    def call_indirect(self, imm) -> None:
        ti, tab = imm
        fparams, fresults = self.check_indirect(ti, tab)
        self.pop_expect(self.ctx.table_addr[tab])
        self.pop_vals(fparams)
        self.stack.extend(fresults)

    def call_ref(self, imm) -> None:
        fparams, fresults = self.check_type(imm)
        self.pop_expect(RefType(True, imm))
        self.pop_vals(fparams)
        self.stack.extend(fresults)

    def return_call(self, imm) -> None:
        fparams, fresults = self.check_func(imm)
        self.check_tail_call(fresults)
        self.pop_vals(fparams)
        self.set_unreachable()

    def return_call_indirect(self, imm) -> None:
        ti, tab = imm
        if tab >= len(self.ctx.tables):
            raise _Invalid(f"unknown table {tab}")
        if not matches(self.ctx.tables[tab], FUNCREF, self.module):
            raise _Invalid("type mismatch: call_indirect needs a funcref table")
        fparams, fresults = self.check_type(ti)
        self.pop_expect(I32)
        self.check_tail_call(fresults)
        self.pop_vals(fparams)
        self.set_unreachable()

    def return_call_ref(self, imm) -> None:
        fparams, fresults = self.check_type(imm)
        self.pop_expect(RefType(True, imm))
        self.check_tail_call(fresults)
        self.pop_vals(fparams)
        self.set_unreachable()

    # --- references ---------------------------------------------------------------------------
    def ref_null(self, imm) -> None:
        if imm >= len(self.types):
            raise _Invalid(f"unknown type {imm}")
        self.stack.append(RefType(True, imm))

    def ref_is_null(self, imm) -> None:
        t = self.pop()
        if type(t) is not RefType and t != UNKNOWN:
            raise _Invalid("type mismatch: ref.is_null needs a reference")
        self.stack.append(I32)

    def ref_func(self, imm) -> None:
        if imm >= len(self.ctx.func_types):
            raise _Invalid(f"unknown function {imm}")
        if imm not in self.ctx.refs:
            raise _Invalid("undeclared function reference")
        self.stack.append(RefType(False, self.ctx.func_types[imm]))

    def ref_as_non_null(self, imm) -> None:
        rt = self.pop_ref()
        self.stack.append(RefType(False, rt.heap))

    def br_on_null(self, imm) -> None:
        """[t* (ref null ht)] -> [t* (ref ht)], label [t*]."""
        lt = self.label_types(imm)
        rt = self.pop_ref()
        self.pop_vals(lt)
        self.stack.extend(lt)
        self.stack.append(RefType(False, rt.heap))

    def br_on_non_null(self, imm) -> None:
        """[t* (ref null ht)] -> [t*], label [t* rt'] with (ref ht) <: rt'."""
        lt = self.label_types(imm)
        rt = self.pop_ref()
        if not lt:
            raise _Invalid("type mismatch: br_on_non_null needs a label taking a reference")
        self.stack.append(RefType(False, rt.heap))
        self.pop_vals(lt)
        self.stack.extend(lt[:-1])

    # --- parametric ---------------------------------------------------------------------------
    def drop(self, imm) -> None:
        self.pop()

    def select(self, imm) -> None:
        self.pop_expect(I32)
        t1 = self.pop()
        t2 = self.pop()
        if t1 not in _NUM or t2 not in _NUM:
            raise _Invalid("type mismatch: select without type needs numeric operands")
        if t1 != t2 and t1 != UNKNOWN and t2 != UNKNOWN:
            raise _Invalid("type mismatch")
        self.stack.append(t2 if t1 == UNKNOWN else t1)

    def select_t(self, imm) -> None:
        if len(imm) != 1:
            raise _Invalid("invalid result arity")
        t = imm[0]
        if type(t) is RefType and t.heap >= len(self.types):
            raise _Invalid(f"unknown type {t.heap}")
        self.pop_expect(I32)
        self.pop_expect(t)
        self.pop_expect(t)
        self.stack.append(t)

    # --- variables ----------------------------------------------------------------------------
    def local_get(self, imm) -> None:
        t = self.check_local(imm)
        if self.track and not self.initialised[imm]:
            raise _Invalid("uninitialized local")
        self.stack.append(t)

    def local_set(self, imm) -> None:
        if imm >= len(self.locals):
            raise _Invalid(f"unknown local {imm}")
        t = self.locals[imm]
        if self.track:
            self.mark_initialised(imm)
        stack = self.stack
        if len(stack) > self.ctrls[-1].height and stack[-1] == t:
            stack.pop()
        else:
            self.pop_expect(t)

    def local_tee(self, imm) -> None:
        if imm >= len(self.locals):
            raise _Invalid(f"unknown local {imm}")
        t = self.locals[imm]
        if self.track:
            self.mark_initialised(imm)
        stack = self.stack
        if not (len(stack) > self.ctrls[-1].height and stack[-1] == t):
            self.pop_expect(t)
            stack.append(t)

    def mark_initialised(self, index: int) -> None:
        if not self.initialised[index]:
            self.initialised[index] = True
            self.inits.append(index)

    def global_get(self, imm) -> None:
        self.stack.append(self.check_global(imm).val_type)

    def global_set(self, imm) -> None:
        g = self.check_global(imm)
        if not g.mutable:
            raise _Invalid("global is immutable")
        self.pop_expect(g.val_type)

    # --- memory -------------------------------------------------------------------------------
    def memory_size(self, imm) -> None:
        self.stack.append(self.check_memory(imm))

    def memory_grow(self, imm) -> None:
        at = self.check_memory(imm)
        self.pop_expect(at)
        self.stack.append(at)

    def memory_fill(self, imm) -> None:
        at = self.check_memory(imm)
        self.pop_vals([at, I32, at])

    def memory_copy(self, imm) -> None:
        for mem in imm:
            self.check_memory(mem)
        # the length is i64 only between two 64-bit memories
        d, s = self.ctx.mem_addr[imm[0]], self.ctx.mem_addr[imm[1]]
        self.pop_vals([d, s, I64 if d == s == I64 else I32])

    def memory_init(self, imm) -> None:
        data_index, mem = imm
        at = self.check_memory(mem)
        self.check_data(data_index)
        self.pop_vals([at, I32, I32])

    def data_drop(self, imm) -> None:
        self.check_data(imm)

    # --- tables -------------------------------------------------------------------------------
    def table_get(self, imm) -> None:
        et = self.check_table(imm)
        self.pop_expect(self.ctx.table_addr[imm])      # i64 for table64
        self.stack.append(et)

    def table_set(self, imm) -> None:
        et = self.check_table(imm)
        self.pop_vals([self.ctx.table_addr[imm], et])

    def table_size(self, imm) -> None:
        self.check_table(imm)
        self.stack.append(self.ctx.table_addr[imm])

    def table_grow(self, imm) -> None:
        et = self.check_table(imm)
        it = self.ctx.table_addr[imm]
        self.pop_vals([et, it])
        self.stack.append(it)

    def table_fill(self, imm) -> None:
        et = self.check_table(imm)
        it = self.ctx.table_addr[imm]
        self.pop_vals([it, et, it])

    def table_copy(self, imm) -> None:
        dst, src = imm
        dt = self.check_table(dst)
        st = self.check_table(src)
        if not matches(st, dt, self.module):
            raise _Invalid("type mismatch: table.copy between tables of different types")
        d, s = self.ctx.table_addr[dst], self.ctx.table_addr[src]
        self.pop_vals([d, s, I64 if d == s == I64 else I32])

    def table_init(self, imm) -> None:
        elem, tab = imm
        et = self.check_table(tab)
        self.check_elem(elem)
        if not matches(self.module.elements[elem].elem_type, et, self.module):
            raise _Invalid("type mismatch: element segment type does not match the table")
        self.pop_vals([self.ctx.table_addr[tab], I32, I32])

    def elem_drop(self, imm) -> None:
        self.check_elem(imm)

    # --- exceptions ---------------------------------------------------------------------------
    def throw(self, imm) -> None:
        self.pop_vals(self.tag_params(imm))
        self.set_unreachable()

    def throw_ref(self, imm) -> None:
        t = self.pop()
        if not matches(t, EXNREF, self.module):
            raise _Invalid("type mismatch: throw_ref needs an exnref")
        self.set_unreachable()

    def try_table(self, imm) -> None:
        bparams, bresults = self.block_type(imm.blocktype)
        # The catches' labels are counted from outside the try_table.
        for c in imm.catches:
            sent = [] if c.tag is None else list(self.tag_params(c.tag))
            if c.kind in (op.CATCH_REF, op.CATCH_ALL_REF):
                sent.append(_EXN_NONNULL)
            lt = self.label_types(c.label)
            if len(lt) != len(sent) or not all(matches(a, e, self.module) for a, e in zip(sent, lt)):
                raise _Invalid("type mismatch: catch clause does not match its label's types")
        self.push_frame(_TRY_TABLE, bparams, bresults)


def _memory_rule(code: int):
    """The rule of a load or store (its row: the pops, the push, the natural alignment)."""
    pops, push, max_align = MEMORY_SIGS[code]
    pops64 = [I64, *pops[1:]]
    lanes = SIMD_LANES.get(code)

    def memory_access(self: _Body, imm) -> None:
        ctx = self.ctx
        align, offset, memory, lane = imm        # a MemArg (unpacked: faster than its fields)
        if memory >= ctx.num_memories:
            raise _Invalid(f"unknown memory {memory}")
        if align > max_align:
            raise _Invalid("alignment must not be larger than natural")
        want = pops
        if ctx.mem_addr[memory] == I64:
            want = pops64                        # memory64: an i64 address
        elif offset >> 32:
            raise _Invalid("offset out of range")
        if lane is not None and lane >= lanes:
            raise _Invalid("invalid lane index")
        stack = self.stack
        n = len(want)
        if len(stack) - n >= self.ctrls[-1].height and stack[-n:] == want:
            del stack[-n:]
        else:
            self.pop_vals(want)
        if push:
            stack.append(push)
    return memory_access


def _lane_rule(code: int):
    """The rule of an instruction with lane immediates (extract/replace_lane, shuffle)."""
    pops, push = _LANE_SIGS[code]
    lanes = SIMD_LANES[code]

    def lane_instruction(self: _Body, imm) -> None:
        lane_max = max(imm) if isinstance(imm, tuple) else imm   # i8x16.shuffle: 16 lanes
        if lane_max >= lanes:
            raise _Invalid("invalid lane index")
        self.pop_vals(pops)
        self.stack.append(push)
    return lane_instruction


def _method_name(name: str) -> str:
    """The ``_Body`` method of an operator: ``local.get`` -> ``local_get``, ``if`` -> ``if_``."""
    name = name.replace(".", "_")
    return name + "_" if name in ("if", "else", "return") else name


def _rules() -> dict:
    rules = {}
    for code, o in op.OPERATORS.items():
        if code in NUMERIC_SIGS:
            continue
        if code in MEMORY_SIGS:
            rules[code] = _memory_rule(code)
        elif code in _LANE_SIGS:
            rules[code] = _lane_rule(code)
        else:
            rules[code] = getattr(_Body, _method_name(o.name))
    return rules


_RULES = _rules()


def _validate_body(ctx: _Context, func_index: int, body) -> None:
    m = ctx.module
    b = _Body(ctx, func_index, body)
    stack = b.stack
    ctrls = b.ctrls
    # local.get is checked inline when no local needs init tracking (``_Body.local_get``)
    fast_locals = len(b.locals) if not b.track else 0
    locals_ = b.locals
    numeric = NUMERIC_SIGS
    rules = _RULES
    local_get = _LOCAL_GET
    has_data_count = m.data_count is not None
    height = 0
    at = body.code_start
    try:
        for at, code, imm in iter_instructions(m.raw, body.code_start, body.code_end, features=m.features,
                                               has_data_count=has_data_count):
            sig = numeric.get(code)
            if sig is not None:
                pops, push = sig
                n = len(pops)
                if n:
                    if len(stack) - n >= height and stack[-n:] == pops:
                        del stack[-n:]
                    else:
                        b.pop_vals(pops)
                stack.append(push)
                continue
            if code == local_get and imm < fast_locals:     # a quarter of all instructions
                stack.append(locals_[imm])
                continue
            rules[code](b, imm)
            if ctrls:
                height = ctrls[-1].height
            # else: the body's final end (iter_instructions sees that nothing follows it)
    except _Invalid as e:
        raise ValidationError(e.args[0], at, func_index) from None
