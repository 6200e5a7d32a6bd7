"""LLVM IR text -> relocatable native object: the only module that uses llvmlite.

It runs inside compile worker processes (runner/compile_worker.py): llvmlite takes
one process-wide lock around every LLVM call, so threads never compile in
parallel, and a warm run should not pay for importing LLVM at all.

Code levels (what ``-O`` and the tiers mean):

* ``base``  the first tier: SROA (allocas -> SSA, cheap and worth 2-3x in run time),
  then codegen at -O0 with fast instruction selection.  About 0.1 s CPU for
  fib.wasm's 280 functions, against ~2.9 s for ``O2``.
* ``O1``    a light pipeline (sroa, instcombine, simplifycfg) and -O2 codegen.
* ``O2``    LLVM's ``default<O2>`` and -O2 codegen; ``O3`` likewise.

Objects are PIC, small code model: runner/loader.py links them into one image that
reaches everything outside it through a GOT.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import llvmlite.binding as llvm

LEVELS = ("base", "O1", "O2", "O3")

_init_lock = threading.Lock()
_initialized = False


def _initialize() -> None:
    global _initialized
    with _init_lock:
        if not _initialized:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            llvm.initialize_native_asmparser()   # the runtime's wr_lazy_entry is module-level asm
            _initialized = True


# Host features LLVM 14's x86 lowering uses to wasm code's cost (docs/PERFORMANCE.md, simd):
# VNNI folds `pmaddwd` + `paddd` into `vpdpwssd`, putting the 5-cycle multiply on a
# reduction's loop-carried chain (rustc's i16 dot loop: -20 % without it); VBMI lowers
# rustc's byte-to-i64 widening shuffles to `vpermt2b` + a copy of its table per use
# instead of `vpmovzxbq` (the u8 sum loop: -40 %). No wasm instruction needs either.
MASKED_FEATURES = ("-avxvnni", "-avx512vnni", "-avx512vbmi")


def cpu_features() -> str:
    """The feature string code is compiled for: the host's, minus MASKED_FEATURES."""
    return ",".join((llvm.get_host_cpu_features().flatten(), *MASKED_FEATURES))


@lru_cache(maxsize=None)
def target_machine(codegen_opt: int) -> llvm.TargetMachine:
    _initialize()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=cpu_features(),
        opt=codegen_opt, reloc="pic", codemodel="small", jit=True)


def compile_ir(ir_text: str, level: str, exact_lines: bool = False) -> bytes:
    """Parse, optimise and emit a relocatable ELF object.

    ``exact_lines`` (-g): at ``base``, use SelectionDAG instead of FastISel, which folds
    a load into the instruction using it under *that* instruction's line, so a memory
    trap would name the wrong wasm instruction (codegen then takes ~4x longer, still
    ~0.2 s for fib.wasm).  The option is process-global, hence set on every call.
    """
    tm, mod = _optimised(ir_text, level, exact_lines)
    return tm.emit_object(mod)


def emit_assembly(ir_text: str, level: str) -> str:
    """The native code ``compile_ir`` would emit at ``level``, as assembly text (to inspect
    instruction selection, as ``llc`` would show it)."""
    tm, mod = _optimised(ir_text, level, False)
    return tm.emit_assembly(mod)


def _optimised(ir_text: str, level: str, exact_lines: bool):
    """(target machine, module) for ``level``: the IR parsed and run through its pass pipeline."""
    if level not in LEVELS:
        raise ValueError(f"unknown code level {level!r}")
    fast_isel = level == "base" and not exact_lines    # (forcing it on would also apply at -O2)
    llvm.set_option("", "-fast-isel=" + ("true" if fast_isel else "false"))
    tm = target_machine(0 if level == "base" else 2 if level in ("O1", "O2") else 3)
    mod = llvm.parse_assembly(ir_text)
    mod.triple = llvm.get_default_triple()
    mod.data_layout = str(tm.target_data)
    if level in ("base", "O1"):
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        mpm = llvm.create_new_module_pass_manager()
        mpm.add_sroa_pass()
        if level == "O1":
            # rustc's LLVM already optimised the program before it became wasm, so
            # promoting our allocas and cleaning up the translation gets most of the speed.
            mpm.add_instruction_combine_pass()
            mpm.add_simplify_cfg_pass()
        mpm.run(mod, pb)
    else:
        pto = llvm.create_pipeline_tuning_options(speed_level=int(level[1]))
        # clang and rustc run the SLP vectorizer at -O2 and above; llvmlite's options leave it
        # off.  It pairs independent f64 operations (nbody's dx/dy/dz: sqrtpd, divpd).
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    return tm, mod
