"""Tail calls: ``return_call``, ``return_call_indirect``, ``return_call_ref``, in constant stack.

LLVM guarantees a tail call only in the ``tailcc`` convention (callee pops its stack
arguments, so a call may pass more of them than its caller received).  ``tailcc`` is
not the C convention: even a function without stack arguments returns with ``ret $8``.
So only a module that uses tail calls (a *tail module*) switches its wasm functions,
import thunks included, to ``tailcc``; every other module's code stays exactly as it was.

What crosses a module boundary stays in the C convention: a tail module's function
records (``wr.funcrefs``: tables, ``ref.func``, exports, what other modules import and
call through) point at a small C-convention *adapter* ``@w<N>.c`` that calls the
``tailcc`` function; the entry wrappers and every other module keep calling records
as before.  The module's own calls use ``tailcc``: direct calls name ``@w<N>``, calls
through records (the first tier, lazy compilation, tier-up) load ``wr.tailcode[N]``,
a per-instance array of ``tailcc`` code pointers the runtime keeps next to the records.

``return_call_indirect`` / ``return_call_ref`` get a record that may belong to any
instance: when it lies inside this instance's ``wr.funcrefs`` the call goes to its
``wr.tailcode`` entry as a real tail call; a foreign record is called through its
C-convention code and returned from (one native frame per hop across an instance
boundary into a module without tail calls; see below).

The runtime lists the instances of tail modules (``@wr_tail_ranges``: their records and
``wr.tailcode``): a tail call to a record of another tail-module instance (through a table,
a reference or an import) finds its ``tailcc`` code with ``wr_tail_code`` and stays a tail
call; only a call into a module without tail calls (or a host function) is a C call.

Backtraces: a tail call replaces the caller's frame (as in wasmtime), adapters' return
addresses are not registered code, so their frames do not show.
"""
from __future__ import annotations

from ..binary.decode import iter_instructions
from ..binary.module import FuncType, Module
from ..errors import TrapKind
from ..layout import FUNCREF_RECORD_SIZE, TBAA_VM_TAG
from .types import IR_TYPE, ir_result_type

TAIL_CALL_OPCODES = frozenset((0x12, 0x13, 0x15))   # return_call, return_call_indirect, return_call_ref


def uses_tail_calls(module: Module) -> bool:
    """Whether any function body of ``module`` has a tail call; the validator records it
    while it walks the bodies (``module.uses_tail_calls``), else one scan finds out."""
    flag = module.__dict__.get("uses_tail_calls")
    if flag is None:
        flag = False
        for body in module.bodies:
            for _, code, _ in iter_instructions(module.raw, body.code_start, body.code_end):
                if code in TAIL_CALL_OPCODES:
                    flag = True
                    break
            if flag:
                break
        module.uses_tail_calls = flag
    return flag


def adapter(index: int, ft: FuncType) -> str:
    """``@w<N>.c``: function N in the C convention, for callers outside the tail module."""
    ret = ir_result_type(ft.results)
    params = [IR_TYPE[t] for t in ft.params]
    plist = ", ".join(f"{t} %p{i}" for i, t in enumerate(params))
    call = f"call tailcc {ret} @w{index}({plist}) noinline"   # no copy of the function in it
    if ret == "void":
        body = [f"  {call}", "  ret void"]
    else:
        body = [f"  %r = {call}", f"  ret {ret} %r"]
    return "\n".join([f"define hidden {ret} @w{index}.c({plist}) #0 {{", *body, "}"])


DECLARATIONS = "declare ptr @wr_tail_code(ptr) nounwind"


def import_tail_path(index: int, ret: str, args: str) -> list[str]:
    """The start of a tail module's import thunk: when the import is a tail module's function
    (of another instance), tail-call its tailcc code, so tail calls through imports stay
    constant-stack too; else fall through to the C call (label %c)."""
    call = f"tail call tailcc {ret} %tc({args})"
    return [f"  %tc = call ptr @wr_tail_code(ptr @wr.import{index})",
            "  %is_tail = icmp ne ptr %tc, null",
            "  br i1 %is_tail, label %tail, label %c",
            "tail:",
            *([f"  {call}", "  ret void"] if ret == "void" else [f"  %tr = {call}", f"  ret {ret} %tr"]),
            "c:"]


def tail_code_pointer(env, func_index: int, value) -> str:
    nfuncs = max(len(env.module.func_types), 1)
    return value(f"load ptr, ptr getelementptr ([{nfuncs} x ptr], ptr @wr.tailcode, i32 0, i32 {func_index}), "
                 f"{TBAA_VM_TAG}")


def _pop_args(fx, ft: FuncType) -> str:
    n = len(ft.params)
    args = fx.stack[len(fx.stack) - n:] if n else []
    del fx.stack[len(fx.stack) - n:]
    return ", ".join(f"{t} {v}" for v, t in args)


def _emit_return_of(fx, call: str, ret: str) -> None:
    if ret == "void":
        fx.emit(call)
        fx.emit("ret void")
    else:
        r = fx.value(call)
        fx.emit(f"ret {ret} {r}")


def _settle(fx) -> None:
    fx.has_calls = True


def _return_call(fx, code, imm):
    _settle(fx)
    ft = fx.module.func_type(imm)
    env = fx.env
    if env.options.direct_calls and imm in env.unit:
        env.direct_callees.add(imm)
        callee = f"@w{imm}"
    else:
        callee = tail_code_pointer(env, imm, fx.value)
    ret = ir_result_type(ft.results)
    _emit_return_of(fx, f"tail call tailcc {ret} {callee}({_pop_args(fx, ft)})", ret)
    fx.mark_unreachable()


def tail_call_record(fx, ref: str, ft: FuncType) -> None:
    """Tail-call the function of record ``ref`` (non-null, type checked)."""
    _settle(fx)
    ret = ir_result_type(ft.results)
    args = _pop_args(fx, ft)
    nfuncs = max(len(fx.module.func_types), 1)
    ri = fx.value(f"ptrtoint ptr {ref} to i64")
    bi = fx.value("ptrtoint ptr @wr.funcrefs to i64")
    off = fx.value(f"sub i64 {ri}, {bi}")
    own = fx.value(f"icmp ult i64 {off}, {FUNCREF_RECORD_SIZE * nfuncs}")
    here, foreign = fx.label("tc.own"), fx.label("tc.foreign")
    fx.emit(f"br i1 {own}, label %{here}, label %{foreign}")
    fx.start_block(here)
    idx = fx.value(f"lshr exact i64 {off}, {FUNCREF_RECORD_SIZE.bit_length() - 1}")
    p = fx.value(f"getelementptr ptr, ptr @wr.tailcode, i64 {idx}")
    fn = fx.value(f"load ptr, ptr {p}, {TBAA_VM_TAG}")
    _emit_return_of(fx, f"tail call tailcc {ret} {fn}({args})", ret)
    fx.start_block(foreign)
    # Another instance's record: its tailcc code when it is a tail module's (wr_tail_code
    # looks it up in the runtime's list), else a C call.
    tc = fx.value(f"call ptr @wr_tail_code(ptr {ref})")
    tail, plain = fx.label("tc.other"), fx.label("tc.c")
    fx.emit(f"br i1 {fx.value(f'icmp ne ptr {tc}, null')}, label %{tail}, label %{plain}")
    fx.start_block(tail)
    _emit_return_of(fx, f"tail call tailcc {ret} {tc}({args})", ret)
    fx.start_block(plain)
    code = fx.value(f"load ptr, ptr {ref}, {TBAA_VM_TAG}")   # the record's C-convention code
    _emit_return_of(fx, f"notail call {ret} {code}({args})", ret)
    fx.mark_unreachable()


def _return_call_indirect(fx, code, imm):
    type_index, table = imm
    ref = fx.indirect_callee_record(type_index, table)
    tail_call_record(fx, ref, fx.module.types[type_index])


def _return_call_ref(fx, code, imm):
    ref = fx.pop()
    fx.trap_if(fx.value(f"icmp eq ptr {ref}, null"), TrapKind.NULL_FUNCTION_REFERENCE)
    tail_call_record(fx, ref, fx.module.types[imm])


def handlers() -> dict:
    return {0x12: _return_call, 0x13: _return_call_indirect, 0x15: _return_call_ref}

