"""Exception handling: ``try_table``, ``throw``, ``throw_ref`` -> LLVM IR.

Nothing runs when a ``try_table`` is entered: its handlers exist only as an ``invoke``'s
unwind edge.  Every wasm call inside the body (``FunctionTranslator.call_insn``) becomes an
``invoke`` whose unwind label is the innermost ``try_table``'s landing pad (a catch-all
``landingpad``: which catch clause applies is decided after it, by comparing tags), so a
call costs the same inside and outside a ``try_table``.  A ``throw``/``throw_ref`` directly
in a body jumps to the catch dispatch without unwinding; one outside any ``try_table`` of
its function hands the exception object to ``wr_throw`` (libgcc's unwinder, runtime/
exceptions.py).  Unmatched exceptions go on to the next enclosing ``try_table`` of the
function, then out of it through ``wr_throw`` again.

The exception object (layout.py EXN_*): ``wr_exn_alloc`` makes it, the payload is stored at
EXN_VALUES_OFFSET in the entry wrappers' slot layout; an exnref is its address.  ``catch`` and
``catch_all`` free it unless an exnref to it was ever made (``catch_ref``, ``catch_all_ref``,
the host): those are registered with ``wr_exn_escape`` and freed by the collector
(runtime/exceptions.py ``ExnHeap``) once no exnref to them is left.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import TrapKind
from ..layout import EXN_TAG_OFFSET, EXN_VALUES_OFFSET, slot_offsets, slot_words
from .types import IR_TYPE

OP_THROW, OP_THROW_REF, OP_TRY_TABLE = 0x08, 0x0A, 0x1F
CATCH, CATCH_REF, CATCH_ALL, CATCH_ALL_REF = 0, 1, 2, 3   # the binary's catch kinds

LANDING_PAD_TYPE = "{ ptr, i32 }"
PERSONALITY = " personality ptr @wr_personality"


def declarations(module) -> str:
    """The module's tag identities (one GOT symbol each) and the runtime's entry points."""
    lines = ["declare ptr @wr_exn_alloc(ptr, i32)",
             "declare void @wr_throw(ptr) noreturn cold",
             "declare void @wr_exn_drop(ptr)",
             "declare void @wr_exn_escape(ptr)",
             "declare i32 @wr_personality(...)"]
    lines += [f"@wr.tag{i} = external global i8" for i in range(len(getattr(module, "tags", ())))]
    return "\n".join(lines)


@dataclass
class Handler:
    """The catch side of one try_table frame."""
    catches: list                       # Catch(kind, tag, label) rows of the binary
    targets: list                       # the function.Frame each catch branches to
    slot: str                           # alloca holding the exception being dispatched
    dispatch: str                       # block matching it against the catches
    lpad: str | None = None             # its landing pad, once a call in the body needs one
    used: bool = False                  # anything reaches the dispatch


def innermost(t) -> "Handler | None":
    for frame in reversed(t.frames):
        h = getattr(frame, "handler", None)
        if h is not None:
            return h
    return None


def landing_pad(t) -> str | None:
    """The unwind label for a call at this point: the innermost try_table's landing pad."""
    h = innermost(t)
    if h is None:
        return None
    if h.lpad is None:
        h.lpad = t.label("lpad")
        h.used = True
        t.uses_eh = True
    return h.lpad


def _raise(t, exn: str) -> None:
    """Control leaves with exception ``exn``: to the innermost handler of this function, else
    out of it."""
    h = innermost(t)
    if h is not None:
        h.used = True
        t.emit(f"store ptr {exn}, ptr {h.slot}")
        t.emit(f"br label %{h.dispatch}")
    else:
        t.emit(f"call void @wr_throw(ptr {exn})")
        t.emit("unreachable")


def _try_table(t, code, imm):
    from .function import Frame
    params, results = t.block_type(imm.blocktype)
    height = len(t.stack) - len(params)
    end = t.label("end")
    res_slots = [t.alloca(r) for r in results]
    targets = [t.frames[-1 - c.label] for c in imm.catches]   # labels count from outside the try_table
    handler = Handler(list(imm.catches), targets, t.alloca("ptr"), t.label("catch"))
    frame = Frame(OP_TRY_TABLE, end, end, params, results, res_slots, res_slots, height,
                  bounds_mark=t.bounds.snapshot())
    frame.handler = handler
    t.frames.append(frame)


def finish_try(t, frame) -> None:
    """After the try_table's `end` (its frame popped): its landing pad and catch dispatch."""
    h = frame.handler
    if not h.used:
        return
    if h.lpad is not None:
        t.start_block(h.lpad)
        lp = t.value(f"landingpad {LANDING_PAD_TYPE} catch ptr null")
        t.emit(f"store ptr {t.value(f'extractvalue {LANDING_PAD_TYPE} {lp}, 0')}, ptr {h.slot}")
        t.emit(f"br label %{h.dispatch}")
    t.start_block(h.dispatch)
    exn = t.value(f"load ptr, ptr {h.slot}")
    tag_p = t.value(f"getelementptr i8, ptr {exn}, i64 {EXN_TAG_OFFSET}")
    tag = t.value(f"load ptr, ptr {tag_p}")
    for c, target in zip(h.catches, h.targets):
        if c.kind in (CATCH, CATCH_REF):
            hit, miss = t.label("caught"), t.label("nomatch")
            t.emit(f"br i1 {t.value(f'icmp eq ptr {tag}, @wr.tag{c.tag}')}, label %{hit}, label %{miss}")
            t.start_block(hit)
            _deliver(t, exn, c, target)
            t.start_block(miss)
        else:
            _deliver(t, exn, c, target)
            return   # catch_all: nothing after it can match
    _raise(t, exn)


def _deliver(t, exn: str, c, target) -> None:
    """Branch to ``target`` with the payload (and the exnref for the _ref forms)."""
    values: list[tuple[str, str]] = []
    if c.kind in (CATCH, CATCH_REF):
        params = t.module.types[t.module.tags[c.tag]].params
        for p, at in zip(params, slot_offsets(params)):
            ty = IR_TYPE[p]
            ptr = t.value(f"getelementptr i8, ptr {exn}, i64 {EXN_VALUES_OFFSET + 8 * at}")
            values.append((t.value(f"load {ty}, ptr {ptr}, align 8"), ty))
    if c.kind in (CATCH_REF, CATCH_ALL_REF):
        t.emit(f"call void @wr_exn_escape(ptr {exn})")   # registered with the collector
        values.append((exn, "ptr"))
    else:
        t.emit(f"call void @wr_exn_drop(ptr {exn})")
    for (v, ty), s in zip(values, target.label_slots):
        t.emit(f"store {ty} {v}, ptr {s}")
    t.emit(f"br label %{target.label}")


def _throw(t, code, imm):
    params = t.module.types[t.module.tags[imm]].params
    n = len(params)
    args = t.stack[len(t.stack) - n:] if n else []
    del t.stack[len(t.stack) - n:]
    words = sum(map(slot_words, params))
    exn = t.value(f"call ptr @wr_exn_alloc(ptr @wr.tag{imm}, i32 {words})")
    for (v, ty), at in zip(args, slot_offsets(params)):
        ptr = t.value(f"getelementptr i8, ptr {exn}, i64 {EXN_VALUES_OFFSET + 8 * at}")
        t.emit(f"store {ty} {v}, ptr {ptr}, align 8")
    _raise(t, exn)
    t.mark_unreachable()


def _throw_ref(t, code, imm):
    exn = t.pop()
    t.trap_if(t.value(f"icmp eq ptr {exn}, null"), TrapKind.NULL_EXCEPTION_REFERENCE)
    _raise(t, exn)
    t.mark_unreachable()


def handlers() -> dict:
    return {OP_THROW: _throw, OP_THROW_REF: _throw_ref, OP_TRY_TABLE: _try_table}

