"""``.cwasm`` files: a module compiled ahead of time (``wasirun compile -o``), run by mapping.

Layout: ``WRCWASM1``, a 4-byte length and a JSON header (options key, the unit's
metadata), the wasm module's bytes, zero padding to a page boundary, then the code
image in runner/loader.py's format (its blob page-aligned in the file, so it is
mapped straight from it).  Like wasmtime's, a .cwasm is trusted input: it carries
native code and is checked for damage, not for malice; it is tied to the wasirun
build and CPU that made it (a mismatch is an error: recompile).
"""
from __future__ import annotations

import json
import os
import struct

MAGIC = b"WRCWASM1"
PAGE = 4096


class CwasmError(ValueError):
    pass


def is_cwasm(data: bytes) -> bool:
    return data[:8] == MAGIC


def write_cwasm(path: str, compiled, engine) -> None:
    from . import loader
    from .codecache import code_fingerprint
    (unit,) = [u for u in compiled.code.units if u.name == "top"]
    image = unit.source if isinstance(unit.source, loader.Image) else loader.loads(_read(unit.source))
    header = json.dumps({"fingerprint": code_fingerprint(), "options": compiled.code.plan.options_key,
                         "name": compiled.name, "unit": unit.meta()}).encode()
    wasm = compiled.module.raw
    head = MAGIC + struct.pack("<I", len(header)) + header + struct.pack("<Q", len(wasm)) + wasm
    pad = (-len(head)) % PAGE
    tmp = os.fspath(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head + b"\0" * pad)
        f.write(loader.dumps(image))
    os.replace(tmp, path)


def _read(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_cwasm(path: str, data: bytes):
    """(header dict, wasm bytes, image offset) of a .cwasm file's contents."""
    from .codecache import code_fingerprint
    try:
        (n,) = struct.unpack_from("<I", data, 8)
        header = json.loads(data[12:12 + n])
        (wasm_len,) = struct.unpack_from("<Q", data, 12 + n)
        start = 20 + n
        wasm = data[start:start + wasm_len]
        if len(wasm) != wasm_len:
            raise ValueError("truncated")
    except (struct.error, ValueError) as exc:
        raise CwasmError(f"`{path}` is not a valid .cwasm file ({exc})") from None
    if header.get("fingerprint") != code_fingerprint():
        raise CwasmError(f"`{path}` was compiled by another wasirun build or for another CPU: "
                         f"compile it again with `wasirun compile`")
    offset = start + wasm_len
    offset += (-offset) % PAGE
    return header, wasm, offset
