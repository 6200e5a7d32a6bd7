"""A compile worker process, serving requests from runner/workers.py over stdin/stdout.

Started as ``python -m runner.compile_worker``.  Each message is a 4-byte little-endian
length and a pickled tuple ``(job_id, kind, payload)``; the answer is ``(job_id, result,
error_text)``.  Kinds:

* ``"ir"``: ``(ir_text, level, want_rows)`` -> ``(object, line rows or None)``
* ``"module"``: ``(key, wasm_bytes, features)`` -> None; the worker decodes and keeps the module, so
  later jobs on it send function indices
* ``"validate"``: ``(key, first_body, end_body)`` -> None, or ``(message, offset, func_index)``
  of the first invalid body in that range

The worker ends at end of input.
"""
from __future__ import annotations

import pickle
import struct
import sys


def read_message(stream):
    head = stream.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack("<I", head)
    data = stream.read(n)
    if len(data) < n:
        return None
    return pickle.loads(data)


def write_message(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack("<I", len(data)) + data)
    stream.flush()


def main() -> None:
    try:
        # End with the parent even if it is killed (Linux: PR_SET_PDEATHSIG = 1, SIGKILL = 9).
        import ctypes
        ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    try:
        serve()
    except (BrokenPipeError, KeyboardInterrupt):
        pass   # the parent went away: nothing is waiting for an answer


def compile_text(text: str, level: str, want_rows: bool):
    from . import jit
    obj = jit.compile_ir(text, level, exact_lines=want_rows)
    rows = None
    if want_rows:
        from .sourcemap.objrows import line_rows
        rows = line_rows(obj)
    return obj, rows


def serve() -> None:
    from . import jit
    jit.target_machine(0)   # initialise LLVM while the parent is still translating
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr   # nothing but answers may reach the pipe
    modules = {}
    while True:
        request = read_message(inp)
        if request is None:
            return
        job_id, kind, payload = request
        try:
            result = None
            if kind == "ir":
                result = compile_text(*payload)
            elif kind == "module":
                from .binary.decode import decode
                from .binary.features import WASM3
                key, wasm, features = payload
                modules[key] = decode(wasm, features or WASM3)
            elif kind == "validate":
                from .errors import ModuleError
                from .validate import validate_bodies
                key, first, end = payload
                try:
                    validate_bodies(modules[key], first, end)
                    result = bool(modules[key].__dict__.get("_tail_calls_seen"))   # valid: any tail call?
                except ModuleError as exc:     # invalid, or a body malformed (errors.module_error)
                    result = (type(exc).__name__, exc.message, exc.offset, getattr(exc, "func_index", None))
            else:
                raise ValueError(f"unknown job kind {kind!r}")
            answer = (job_id, result, None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            answer = (job_id, None, f"{type(exc).__name__}: {exc}")
        write_message(out, answer)


if __name__ == "__main__":
    main()
