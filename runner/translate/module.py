"""A whole wasm module -> one LLVM IR module (text).

What the generated code expects from the runtime, by symbol name (each
instance links the same object with its own addresses for these; the record
layouts and metadata ids are runner/layout.py's):

* ``wr.mem<N>``    memory N's record ``{ptr base, i64 size_in_bytes}`` (imported memories first)
* ``wr.table<N>``  table record ``{ptr elements, i64 size}``
* ``wr.g<N>``      an 8-byte cell per global (imported or defined), 16 bytes for a v128 (accessed ``align 8``)
* ``wr.import<N>`` the ``{code, type id}`` record of imported function N (host callback or
  another instance's function)
* ``wr.instance``  an address identifying the instance to the runtime helpers
* ``wr.fuel`` / ``wr.interrupt`` the engine's fuel count and interrupt flag (layout.LimitsRecord)
* ``wr_thread`` the running thread's layout.ThreadState (thread-local: stack limit, pending
  host exception, host frame), ``wr_trap``, ``wr_memory_grow``, … from runner/runtime

* ``wr.funcrefs``  the instance's function records, one ``{ptr code, i64 type id}`` per
  function: ``ref.func`` points at one, and calls that may have to reach code compiled
  later (another tier) load the code pointer from it
* ``wr.hot`` / ``wr_tierup`` (first tier only) one i32 counter per function, and the
  runtime's hook called once when a counter reaches ``TIERUP_THRESHOLD``

A translation *unit* is a set of the module's functions compiled together; calls
between functions of one unit are direct when ``direct_calls`` is set, every other
call goes through ``wr.funcrefs`` (runner/tiers.py swaps code by writing there).
What a whole-module unit defines for the runtime: ``wr.call<N>`` entry wrappers for
exported functions (and the start function), calling through ``wr.funcrefs``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..binary.module import KIND_FUNC, FuncType, Module
from ..layout import (FCONSTS_IR_TYPE, FIRST_DEBUG_MD, FUEL_SYMBOL, FUNCREF_CODE_FIELD, FUNCREF_RECORD_IR,
                      GLOBAL_CELL_IR, INTERRUPT_SYMBOL, MEMORY_RECORD_IR, METADATA, TABLE_RECORD_IR,
                      THREAD_STATE_DECL, TBAA_VM_TAG, UNLIKELY_BRANCH, memory_symbol, thread_field)
from . import exceptions, memory, numeric, relaxed, simd, tables, tailcalls
from .function import FunctionTranslator
from .options import TranslateOptions
from ..layout import slot_offsets
from .types import IR_TYPE, ir_result_type

RUNTIME_DECLARATIONS = f"""\
declare void @wr_trap(i32) noreturn cold nounwind
declare i32 @wr_memory_grow(ptr, i32)
declare i32 @wr_memory_init(ptr, i32, i32, i32, i32)
declare void @wr_data_drop(ptr, i32)
declare i32 @wr_table_grow(ptr, ptr, i32)
declare i32 @wr_table_fill(ptr, i32, ptr, i32)
declare i32 @wr_table_copy(ptr, ptr, i32, i32, i32)
declare i32 @wr_table_init(ptr, ptr, i32, i32, i32, i32)
declare void @wr_elem_drop(ptr, i32)
declare ptr @llvm.frameaddress.p0(i32)
declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare void @wr_host_raise() noreturn cold
{THREAD_STATE_DECL}
@{INTERRUPT_SYMBOL} = external global i32
@wr_fconsts = external global {FCONSTS_IR_TYPE}
@{FUEL_SYMBOL} = external global i64
@wr.instance = external global i8
"""


class ModuleTranslator:
    """Builds the IR text for a module; FunctionTranslator asks it for names and metadata."""

    def __init__(self, module: Module, options: TranslateOptions, source_name: str = "module.wasm"):
        self.module = module
        self.options = options
        self.interruptible = options.interruptible
        self.fuel = options.fuel
        self.tier_counters = options.tier_counters
        self.unit: frozenset[int] = frozenset()
        self.debug_info = options.debug_info
        self.source_name = source_name
        self._md: list[str] = []
        self._md_next = FIRST_DEBUG_MD
        self._subprograms: dict[int, int] = {}
        self._locations: dict[tuple[int, int], int] = {}
        self._current_func = 0
        # A module with tail calls runs its functions in LLVM's tailcc (see tailcalls.py).
        self.tail = tailcalls.uses_tail_calls(module)
        self.cc = "tailcc " if self.tail else ""

    # --- debug metadata (line = wasm byte offset) ----------------------------------------
    def _metadata(self, text: str) -> int:
        n = self._md_next
        self._md_next += 1
        self._md.append(f"!{n} = {text}")
        return n

    def _debug_unit(self) -> None:
        self._file = self._metadata(f'!DIFile(filename: "{self.source_name}", directory: "/wasm")')
        self._cu = self._metadata(
            f'distinct !DICompileUnit(language: DW_LANG_C, file: !{self._file}, producer: "wasirun", '
            f'isOptimized: true, runtimeVersion: 0, emissionKind: LineTablesOnly)')
        self._subroutine_type = self._metadata("!DISubroutineType(types: !{})")

    def subprogram(self, func_index: int) -> int:
        sp = self._subprograms.get(func_index)
        if sp is None:
            body = self.module.bodies[func_index - self.module.num_imported_funcs]
            line = body.code_start
            sp = self._metadata(
                f'distinct !DISubprogram(name: "w{func_index}", scope: !{self._file}, file: !{self._file}, '
                f'line: {line}, type: !{self._subroutine_type}, scopeLine: {line}, '
                f'spFlags: DISPFlagDefinition | DISPFlagOptimized, unit: !{self._cu})')
            self._subprograms[func_index] = sp
        return sp

    def location(self, offset: int) -> int:
        key = (self._current_func, offset)
        loc = self._locations.get(key)
        if loc is None:
            loc = self._metadata(f"!DILocation(line: {offset}, column: 1, scope: !{self.subprogram(self._current_func)})")
            self._locations[key] = loc
        return loc

    # --- the module ------------------------------------------------------------------------
    def translate(self, functions: list[int] | None = None, wrappers: bool = True,
                  unit: frozenset[int] | None = None) -> "IRModule":
        """IR for ``functions`` (all of the module's by default); with ``wrappers`` the
        entry wrappers of the exported functions too.  ``unit`` (default: ``functions``)
        is the set of functions that will be linked into one image with these, which
        calls may reach directly."""
        m = self.module
        nfuncs = len(m.func_types)
        if functions is None:
            functions = list(range(nfuncs))
        self.unit = frozenset(functions) if unit is None else unit
        self.direct_callees: set[int] = set()
        if self.debug_info:
            self._debug_unit()
        header = [RUNTIME_DECLARATIONS, numeric.DECLARATIONS, simd.DECLARATIONS, relaxed.DECLARATIONS]
        for i in range(len(m.memories)):
            header.append(f"@{memory_symbol(i)} = external global {MEMORY_RECORD_IR}")
        if len(m.memories) > 1 or any(mt.is64 for mt in m.memories):
            header.append(memory.DECLARATIONS)
        for i in range(len(m.tables)):
            header.append(f"@wr.table{i} = external global {TABLE_RECORD_IR}")
        if any(tt.is64 for tt in m.tables):
            header.append(tables.DECLARATIONS)
        for i in range(len(m.globals)):
            header.append(f"@wr.g{i} = external global {GLOBAL_CELL_IR}")
        header.append(f"@wr.funcrefs = external global [{max(nfuncs, 1)} x {FUNCREF_RECORD_IR}]")
        header.append(exceptions.declarations(m))
        if self.tail:
            header.append(f"@wr.tailcode = external global [{max(nfuncs, 1)} x ptr]")
            header.append(tailcalls.DECLARATIONS)
        if self.tier_counters:
            header.append(f"@wr.hot = external global [{max(nfuncs, 1)} x i32]")
            header.append("declare void @wr_tierup(i32) cold nounwind")
        # Not nounwind: a wasm exception unwinds through every wasm frame (runtime/exceptions.py),
        # so each function gets its .eh_frame entry (uwtable: also where LLVM could omit it).
        attrs = ['"frame-pointer"="all"', '"probe-stack"="inline-asm"', "uwtable"]
        if not self.options.inline:
            attrs.append("noinline")
        header.append(f"attributes #0 = {{ {' '.join(attrs)} }}")
        # The empty asm barriers of numeric.opaque: pure, so LLVM may still hoist and CSE them.
        header.append("attributes #1 = { nounwind willreturn memory(none) }")
        # memory.BARRIER before every memory access: may read anything, may not return.
        header.append("attributes #2 = { nounwind memory(read) }")

        out: list[IRFunction] = []
        n_imported = m.num_imported_funcs
        for i in functions:
            ft = m.func_type(i)
            if i < n_imported:
                text = self._import_thunk(i, ft)
                cost = 1
            else:
                self._current_func = i
                text = FunctionTranslator(m, i, self).translate()
                body = m.bodies[i - n_imported]
                cost = body.code_end - body.code_start
            if self.tail:
                text += "\n" + tailcalls.adapter(i, ft)
            out.append(IRFunction(i, text, cost))
        header = [_used_lines("\n".join(header), self._used_symbols(out))]
        defined = set(functions)
        for i in sorted(self.direct_callees - defined):   # defined in another part of the unit
            ft = m.func_type(i)
            header.append(f"declare hidden {self.cc}{ir_result_type(ft.results)} @w{i}({', '.join(IR_TYPE[t] for t in ft.params)}) #0")

        entry_text = ""
        if wrappers:
            callable_funcs = sorted({e.index for e in m.exports if e.kind == KIND_FUNC}
                                    | ({m.start} if m.start is not None else set()))
            entry_text = "\n".join(self._entry_wrapper(i, m.func_type(i)) for i in callable_funcs)

        trailer = [METADATA]
        if self.debug_info:
            trailer.append(f"!llvm.dbg.cu = !{{!{self._cu}}}")
            flags_a = self._metadata('!{i32 2, !"Dwarf Version", i32 4}')
            flags_b = self._metadata('!{i32 2, !"Debug Info Version", i32 3}')
            trailer.append(f"!llvm.module.flags = !{{!{flags_a}, !{flags_b}}}")
            trailer.extend(self._md)
        return IRModule("\n".join(header), out, entry_text, "\n".join(trailer))

    def _used_symbols(self, out: list["IRFunction"]) -> set[str]:
        """The symbols the functions and the entry wrappers refer to."""
        used: set[str] = set()
        for f in out:
            used.update(_SYMBOL.findall(f.text))
        # The entry wrappers reach their functions through wr.funcrefs.
        used.add("wr.funcrefs")
        return used

    def callee(self, func_index: int, caller: "FunctionTranslator") -> str:
        """The IR callee operand for a call of ``func_index``: the function itself when it is
        in this unit, else the code pointer loaded from its record (it may change tier)."""
        if self.options.direct_calls and func_index in self.unit:
            self.direct_callees.add(func_index)
            return f"@w{func_index}"
        if self.tail:
            return tailcalls.tail_code_pointer(self, func_index, caller.value)
        return self.code_pointer(func_index, caller.value)

    def code_pointer(self, func_index: int, value) -> str:
        nfuncs = max(len(self.module.func_types), 1)
        return value(f"load ptr, ptr getelementptr ([{nfuncs} x {FUNCREF_RECORD_IR}], ptr @wr.funcrefs, "
                     f"i32 0, i32 {func_index}, i32 {FUNCREF_CODE_FIELD}), {TBAA_VM_TAG}")

    def _import_thunk(self, index: int, ft: FuncType) -> str:
        """Imported function N as a local function: call the import, then check for a
        pending host exception (a Python callback cannot unwind native frames itself)."""
        ret = ir_result_type(ft.results)
        params = [IR_TYPE[t] for t in ft.params]
        plist = ", ".join(f"{t} %p{i}" for i, t in enumerate(params))
        args = ", ".join(f"{t} %p{i}" for i, t in enumerate(params))
        call = f"call {ret} %code({args})"
        # wr.import<N> is the imported function's {code, type id} record: the code of a
        # function of another instance may change tier, so it is loaded at each call.
        # While the host runs, the thread's host_fp/host_import say which import it is and where
        # the wasm frames resume: the guest profiler's SIGPROF handler cannot walk Python's
        # frames (no frame pointers there), so it starts from this thunk's frame.
        lines = [f"@wr.import{index} = external global ptr",
                 f"define hidden {self.cc}{ret} @w{index}({plist}) #0 {{",
                 *(tailcalls.import_tail_path(index, ret, args) if self.tail else []),
                 f"  %code = load ptr, ptr @wr.import{index}",
                 "  %fa = call ptr @llvm.frameaddress.p0(i32 0)",
                 f"  store volatile i32 {index}, ptr {thread_field('host_import')}",
                 f"  store volatile ptr %fa, ptr {thread_field('host_fp')}",
                 f"  {'%r = ' if ret != 'void' else ''}{call}",
                 f"  store volatile ptr null, ptr {thread_field('host_fp')}",
                 f"  %pending = load i32, ptr {thread_field('pending')}",
                 "  %bad = icmp ne i32 %pending, 0",
                 f"  br i1 %bad, label %trap, label %ok, {UNLIKELY_BRANCH}",
                 "trap:",   # the host raised: throw its WasmException, or trap with its Python exception
                 "  call void @wr_host_raise()",
                 "  unreachable",
                 "ok:",
                 f"  ret {ret} {'%r' if ret != 'void' else ''}".rstrip(),
                 "}"]
        return "\n".join(lines)

    def _entry_wrapper(self, index: int, ft: FuncType) -> str:
        """``void wr.call<N>(u64 *slots)``: arguments in, results out, one 8-byte slot each
        (two for a v128, low half first)."""
        lines = [f"define void @wr.call{index}(ptr %slots) #0 {{"]
        args = []
        for i, (t, at) in enumerate(zip(ft.params, slot_offsets(ft.params))):
            ty = IR_TYPE[t]
            lines.append(f"  %ap{i} = getelementptr i64, ptr %slots, i32 {at}")
            lines.append(f"  %a{i} = load {ty}, ptr %ap{i}, align 8")
            args.append(f"{ty} %a{i}")
        ret = ir_result_type(ft.results)
        nfuncs = max(len(self.module.func_types), 1)
        lines.append(f"  %code = load ptr, ptr getelementptr ([{nfuncs} x {FUNCREF_RECORD_IR}], ptr @wr.funcrefs, "
                     f"i32 0, i32 {index}, i32 {FUNCREF_CODE_FIELD})")
        call = f"call {ret} %code({', '.join(args)})"
        if not ft.results:
            lines.append(f"  {call}")
        else:
            lines.append(f"  %r = {call}")
            for i, (t, at) in enumerate(zip(ft.results, slot_offsets(ft.results))):
                ty = IR_TYPE[t]
                if len(ft.results) == 1:
                    v = "%r"
                else:
                    v = f"%r{i}"
                    lines.append(f"  {v} = extractvalue {ret} %r, {i}")
                lines.append(f"  %rp{i} = getelementptr i64, ptr %slots, i32 {at}")
                lines.append(f"  store {ty} {v}, ptr %rp{i}, align 8")
        lines.append("  ret void")
        lines.append("}")
        return "\n".join(lines)


_SYMBOL = re.compile(r"@([-\w.$]+)")
_DECLARED = re.compile(r"(?:declare [^@]*|)@([-\w.$]+)(?:\(| = external )")


_declared_lines: dict[str, list[tuple[str | None, str]]] = {}   # a module's header, split once


def _used_lines(text: str, used: set[str]) -> str:
    """The header ``text`` without the function declarations and external globals whose
    symbol is not in ``used`` (LLVM parses every declaration of every unit: a lazily compiled
    or tier-up unit of a function or two spent a fifth of its LLVM time on the ~150 nobody
    calls — Yosys: ~0.5 ms of ~2.5 ms per lazy batch)."""
    rows = _declared_lines.get(text)
    if rows is None:
        rows = []
        for line in text.split("\n"):
            m = _DECLARED.match(line)
            rows.append((m and m.group(1), line))
        if len(_declared_lines) >= 8:     # one module's units share one header: keep a few
            _declared_lines.clear()
        _declared_lines[text] = rows
    return "\n".join(line for name, line in rows if name is None or name in used)


def translate_module(module: Module, options: TranslateOptions | None = None,
                     source_name: str = "module.wasm", functions: list[int] | None = None,
                     wrappers: bool = True, unit: frozenset[int] | None = None) -> "IRModule":
    return ModuleTranslator(module, options or TranslateOptions(), source_name).translate(functions, wrappers, unit)


@dataclass
class IRFunction:
    index: int
    text: str     # the definition
    cost: int     # wasm body size: a proxy for compile time


@dataclass
class IRModule:
    """The IR of some functions of a module, as pieces of one LLVM module text."""

    header: str
    functions: list[IRFunction]
    wrappers: str
    trailer: str

    def text(self) -> str:
        return "\n".join([self.header, *(f.text for f in self.functions), self.wrappers, self.trailer]) + "\n"
