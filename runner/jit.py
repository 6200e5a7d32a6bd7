"""LLVM IR text -> optimised native object, and the on-disk object cache.

One TargetMachine per optimisation level, for the host CPU, small code model
and PIC: each instance links the same object with its own addresses for the
``wr.*`` symbols, so the code must reach them through the GOT.
"""
from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

_init_lock = threading.Lock()
_initialized = False


def _initialize() -> None:
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialized = True


@lru_cache(maxsize=None)
def target_machine(opt_level: int) -> llvm.TargetMachine:
    _initialize()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=min(opt_level, 3), reloc="pic", codemodel="small", jit=True)


def host_fingerprint() -> str:
    _initialize()
    return f"{llvm.get_default_triple()}|{llvm.get_host_cpu_name()}|{llvm.get_host_cpu_features().flatten()}|llvmlite {llvmlite.__version__}"


def compile_ir(ir_text: str, opt_level: int) -> bytes:
    """Parse, optimise and emit a relocatable ELF object."""
    tm = target_machine(opt_level)
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_default_triple()
    mod.data_layout = str(tm.target_data)
    if opt_level > 0:
        pto = llvm.create_pipeline_tuning_options(speed_level=min(opt_level, 3))
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


def cache_dir() -> Path:
    base = os.environ.get("WASIRUN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wasirun")
    return Path(base) / "objects"


class ObjectCache:
    """Compiled objects keyed by everything that changes the machine code."""

    def __init__(self, directory: Path | None = None):
        self.directory = directory or cache_dir()

    @staticmethod
    def key(wasm: bytes, options: str) -> str:
        h = hashlib.sha256()
        h.update(wasm)
        h.update(options.encode())
        h.update(host_fingerprint().encode())
        h.update(_translator_fingerprint().encode())
        return h.hexdigest()

    def get(self, key: str) -> bytes | None:
        try:
            return (self.directory / f"{key}.o").read_bytes()
        except OSError:
            return None

    def put(self, key: str, obj: bytes) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{key}.{os.getpid()}.tmp"
            tmp.write_bytes(obj)
            os.replace(tmp, self.directory / f"{key}.o")
        except OSError:
            pass  # a read-only cache directory only costs speed


@lru_cache(maxsize=None)
def _translator_fingerprint() -> str:
    """Hash of the translator's own source, so a changed translator never reuses stale code."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for p in sorted((here / "translate").glob("*.py")) + [here / "jit.py", here / "binary" / "decode.py"]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
