"""LLVM IR text -> optimised native object, and the on-disk object cache.

One TargetMachine per optimisation level, for the host CPU, small code model
and PIC: each instance links the same object with its own addresses for the
``wr.*`` symbols, so the code must reach them through the GOT.
"""
from __future__ import annotations

import hashlib
import os
import struct
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


_thread_tms = threading.local()


def _thread_target_machine(opt_level: int) -> llvm.TargetMachine:
    """TargetMachines are not thread-safe: one per thread and level."""
    tms = getattr(_thread_tms, "tms", None)
    if tms is None:
        tms = _thread_tms.tms = {}
    tm = tms.get(opt_level)
    if tm is None:
        _initialize()
        target = llvm.Target.from_default_triple()
        tm = tms[opt_level] = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=2 if opt_level == 1 else min(opt_level, 3), reloc="pic", codemodel="small", jit=True)
    return tm


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def compile_partitions(texts: list[str], opt_level: int) -> list[bytes]:
    """Compile module texts in parallel threads: llvmlite releases the GIL inside LLVM,
    and each thread has its own LLVMContext and TargetMachine."""
    if len(texts) == 1:
        return [compile_ir(texts[0], opt_level)]
    results: list[bytes | BaseException | None] = [None] * len(texts)

    def work(k: int) -> None:
        try:
            results[k] = compile_ir(texts[k], opt_level, llvm.create_context())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            results[k] = exc

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, len(texts))]
    for t in threads:
        t.start()
    work(0)
    for t in threads:
        t.join()
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results  # type: ignore[return-value]


def compile_ir(ir_text: str, opt_level: int, context=None) -> bytes:
    """Parse, optimise and emit a relocatable ELF object."""
    _initialize()
    tm = _thread_target_machine(opt_level)
    mod = llvm.parse_assembly(ir_text, context) if context is not None else llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_default_triple()
    mod.data_layout = str(tm.target_data)
    if opt_level == 1:
        # A light pipeline: rustc's LLVM already optimised the program before it became
        # wasm, so promoting our allocas and cleaning up the translation gets most of the
        # speed at about 40 % of -O2's compile time (measured on fib.wasm: 1.9 s vs 4.5 s CPU).
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        mpm = llvm.create_new_module_pass_manager()
        for add in (mpm.add_sroa_pass, mpm.add_instruction_combine_pass, mpm.add_simplify_cfg_pass):
            add()
        mpm.run(mod, pb)
    elif opt_level >= 2:
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

    _MAGIC = b"WRUNOBJ1"

    def get(self, key: str) -> list[bytes] | None:
        """The objects stored under ``key``, or None (also for a damaged entry)."""
        try:
            data = (self.directory / f"{key}.objs").read_bytes()
        except OSError:
            return None
        if not data.startswith(self._MAGIC) or len(data) < 12:
            return None
        (n,) = struct.unpack_from("<I", data, 8)
        pos = 12 + 8 * n
        if n > 64 or len(data) < pos:
            return None
        objs = []
        for (size,) in struct.iter_unpack("<Q", data[12:pos]):
            objs.append(data[pos:pos + size])
            pos += size
        return objs if pos == len(data) else None

    def put(self, key: str, objs: list[bytes]) -> None:
        blob = self._MAGIC + struct.pack("<I", len(objs)) + b"".join(struct.pack("<Q", len(o)) for o in objs)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp = self.directory / f".{key}.{os.getpid()}.tmp"
            tmp.write_bytes(blob + b"".join(objs))
            os.replace(tmp, self.directory / f"{key}.objs")
        except OSError:
            pass  # a read-only cache directory only costs speed


def cached_object(ir_text: str, label: str) -> bytes:
    """The object for a small fixed IR module of our own (the runtime, the fd_write fast path),
    compiled once per machine and then read from the cache."""
    cache = ObjectCache()
    key = cache.key(ir_text.encode(), label)
    objs = cache.get(key)
    if not objs:
        objs = [compile_ir(ir_text, 2)]
        cache.put(key, objs)
    return objs[0]


@lru_cache(maxsize=None)
def _translator_fingerprint() -> str:
    """Hash of the translator's own source, so a changed translator never reuses stale code."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for p in sorted((here / "translate").glob("*.py")) + [here / "jit.py", here / "binary" / "decode.py"]:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
