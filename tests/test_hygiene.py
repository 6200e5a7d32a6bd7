"""The tests' own hygiene: their compile cache is a session directory (tests/conftest.py),
and every cache wasirun writes (compiled code, decoded DWARF) lives under that root and
obeys Config.cache."""
from __future__ import annotations

import os
from pathlib import Path

from runner import Config, Engine
from runner.codecache import cache_root


def test_the_session_has_its_own_cache_root():
    root = cache_root()
    assert root == Path(os.environ["WASIRUN_CACHE_DIR"])
    assert root.name.startswith("wasirun-test-cache-")
    assert not str(root).startswith(os.path.expanduser("~/.cache"))


def test_the_dwarf_cache_obeys_the_root_and_config_cache(fib_g_wasm, tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path / "root"))
    wasm = fib_g_wasm.read_bytes()
    for cache in (False, True):
        engine = Engine(Config(opt_level=0, debug_info=True, cache=cache))
        compiled = engine.compile(wasm, name="fib-g.wasm")
        assert compiled.dwarf() is not None
        engine.close()
        dwarf_dir = tmp_path / "root" / "dwarf"
        assert dwarf_dir.is_dir() == cache, (cache, list((tmp_path / "root").rglob("*"))[:5])
