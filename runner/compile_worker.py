"""A compile worker process: IR text in, native object out, over its stdin/stdout.

Started by runner/workers.py as ``python -m runner.compile_worker``.  Each message
is a 4-byte little-endian length and a pickled tuple; requests are
``(job_id, level, ir_text, want_line_rows)``, answers ``(job_id, object, rows, None)``
or ``(job_id, None, None, error_text)``.  The worker ends at end of input.
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
    from . import jit
    jit.target_machine(0)   # initialise LLVM while the parent is still translating
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr   # nothing but answers may reach the pipe
    while True:
        request = read_message(inp)
        if request is None:
            return
        job_id, level, text, want_rows = request
        try:
            obj = jit.compile_ir(text, level, exact_lines=want_rows)
            rows = None
            if want_rows:
                from .objfile import line_rows
                rows = line_rows(obj)
            answer = (job_id, obj, rows, None)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            answer = (job_id, None, None, f"{type(exc).__name__}: {exc}")
        write_message(out, answer)


if __name__ == "__main__":
    main()
