"""What a non-zero result of ``wr_enter`` means, raised as a Python exception."""
from __future__ import annotations

from ..errors import Trap, TrapKind
from ..layout import EXCEPTION_RETURN
from . import coderanges
from .exceptions import exception_from_native
from .native import NativeRuntime


def raise_trap(code: int, instance=None, slots=None) -> None:
    """Raise what a non-zero wr_enter result means: the Trap, the host's exception, or the wasm
    exception that left the code (EXCEPTION_RETURN: the object is in ``slots[0]``)."""
    rt = NativeRuntime.get()
    if code == EXCEPTION_RETURN and slots is not None:
        exc = exception_from_native(slots[0])
        state = rt.thread().state
        traced = state.exn_trace == slots[0]     # wr_throw walked this exception's throw
        pcs = rt.take_backtrace()
        state.exn_trace = None
        if traced:
            exc.frames = coderanges.frames_at(pcs)
        raise exc
    pcs = rt.take_backtrace()
    if code == TrapKind.HOST_EXCEPTION:
        exc = rt.take_pending()
        if exc is not None:
            raise exc
    rt.take_pending()
    raise Trap(TrapKind(code), coderanges.frames_at(pcs))
