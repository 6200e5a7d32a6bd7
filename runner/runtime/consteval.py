"""Constant expressions evaluated at instantiation (globals, segment offsets, element
expressions, table initialisers), as raw bits."""
from __future__ import annotations

import operator

from ..binary.module import ConstExpr
from ..layout import FUNCREF_RECORD_SIZE
from .store import GlobalCell
from .values import U64

# The arithmetic of extended constant expressions, on unsigned bits: (result mask, operation).
_CONST_ARITH = {"i32.add": (0xFFFFFFFF, operator.add), "i32.sub": (0xFFFFFFFF, operator.sub),
                "i32.mul": (0xFFFFFFFF, operator.mul), "i64.add": (U64, operator.add),
                "i64.sub": (U64, operator.sub), "i64.mul": (U64, operator.mul)}


def eval_const(e: ConstExpr, globals_: list[GlobalCell], funcrefs_address: int) -> int:
    """``e``'s value; ``global.get`` reads ``globals_``, ``ref.func i`` is the address of
    record ``i`` of the instance's ``wr.funcrefs``."""
    if e.op != "seq":
        return _eval_instr(e, globals_, funcrefs_address)
    # Extended constant expressions: a validated sequence, run on a small stack.
    stack: list[int] = []
    for ins in e.value:
        arith = _CONST_ARITH.get(ins.op)
        if arith is None:
            stack.append(_eval_instr(ins, globals_, funcrefs_address))
        else:
            mask, fn = arith
            b = stack.pop()
            stack.append(fn(stack.pop(), b) & mask)
    return stack[-1]


def _eval_instr(e: ConstExpr, globals_: list[GlobalCell], funcrefs_address: int) -> int:
    if e.op == "global.get":
        return globals_[e.value].bits
    if e.op == "ref.func":
        return funcrefs_address + FUNCREF_RECORD_SIZE * e.value
    if e.op == "ref.null":
        return 0
    return e.value
