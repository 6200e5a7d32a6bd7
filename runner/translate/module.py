"""A whole wasm module -> one LLVM IR module (text).

What the generated code expects from the runtime, by symbol name (each
instance links the same object with its own addresses for these):

* ``wr.mem0``      memory record ``{ptr base, i64 size_in_bytes}``
* ``wr.table<N>``  table record ``{ptr elements, i64 size}``
* ``wr.g<N>``      an 8-byte cell per global (imported or defined)
* ``wr.import<N>`` the code of imported function N (host callback or another instance's function)
* ``wr.instance``  an address identifying the instance to the runtime helpers
* ``wr_trap``, ``wr_pending``, ``wr_stack_limit``, ``wr_memory_grow``, … from runner/runtime

What it defines for the runtime: ``wr.call<N>`` entry wrappers for exported
functions (and the start function), ``wr.funcrefs`` (one ``{code, type id}``
record per function; the runtime fills in the type ids) and ``wr.typeids``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..binary.module import KIND_FUNC, FuncType, Module
from ..errors import TrapKind
from . import numeric
from .function import FunctionTranslator
from .types import IR_TYPE, ir_result_type

RUNTIME_DECLARATIONS = """\
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
@wr_pending = external global i32
@wr_stack_limit = external global ptr
@wr_interrupt = external global i32
@wr_fconsts = external global [8 x i64]
@wr_fuel = external global i64
@wr.instance = external global i8
"""

METADATA = """\
!0 = !{!"wasirun"}
!1 = !{!"heap", !0, i64 0}
!2 = !{!1, !1, i64 0}
!3 = !{!"vm", !0, i64 0}
!4 = !{!3, !3, i64 0}
!5 = !{!"branch_weights", i32 1, i32 1048576}
!6 = !{}
"""


@dataclass
class TranslateOptions:
    inline: bool = False       # let LLVM inline wasm functions into each other
    stack_check: bool = True
    debug_info: bool = False   # DWARF: line = wasm byte offset, in a pseudo file named after the module
    interruptible: bool = False  # check @wr_interrupt at function entry and loop headers (--timeout)
    fuel: bool = False         # count instructions against @wr_fuel (--fuel)
    guard_pages: bool = True   # out-of-bounds accesses fault on PROT_NONE pages instead of explicit checks


class ModuleTranslator:
    """Builds the IR text for a module; FunctionTranslator asks it for names and metadata."""

    def __init__(self, module: Module, options: TranslateOptions, source_name: str = "module.wasm"):
        self.module = module
        self.options = options
        self.stack_check = options.stack_check
        self.interruptible = options.interruptible
        self.fuel = options.fuel
        self.guard_pages = options.guard_pages
        self.debug_info = options.debug_info
        self.source_name = source_name
        self._md: list[str] = []
        self._md_next = 100
        self._subprograms: dict[int, int] = {}
        self._locations: dict[tuple[int, int], int] = {}
        self._current_func = 0

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
    def translate(self) -> "IRModule":
        m = self.module
        if self.debug_info:
            self._debug_unit()
        header = [RUNTIME_DECLARATIONS, numeric.DECLARATIONS]
        if m.memories:
            header.append("@wr.mem0 = external global {ptr, i64}")
        for i in range(len(m.tables)):
            header.append(f"@wr.table{i} = external global {{ptr, i64}}")
        for i in range(len(m.globals)):
            header.append(f"@wr.g{i} = external global i64")
        attrs = ['"frame-pointer"="all"', '"probe-stack"="inline-asm"', "nounwind"]
        if not self.options.inline:
            attrs.append("noinline")
        header.append(f"attributes #0 = {{ {' '.join(attrs)} }}")
        # The empty asm barriers of numeric.opaque: pure, so LLVM may still hoist and CSE them.
        header.append("attributes #1 = { nounwind willreturn memory(none) }")

        nfuncs = len(m.func_types)
        typeids = f"[{max(len(m.types), 1)} x i64]"
        refs_type = f"[{nfuncs} x {{ptr, i64}}]"
        refs = ", ".join(f"{{ptr, i64}} {{ptr @w{i}, i64 0}}" for i in range(nfuncs))
        data = IRData(f"@wr.typeids = global {typeids} zeroinitializer",
                      f"@wr.funcrefs = global {refs_type} [{refs}]",
                      f"@wr.typeids = external global {typeids}",
                      f"@wr.funcrefs = external global {refs_type}")

        functions: list[IRFunction] = []
        n_imported = m.num_imported_funcs
        for i in range(nfuncs):
            ft = m.func_type(i)
            if i < n_imported:
                text = self._import_thunk(i, ft)
                cost = 1
            else:
                self._current_func = i
                text = FunctionTranslator(m, i, self).translate()
                body = m.bodies[i - n_imported]
                cost = body.code_end - body.code_start
            ret = ir_result_type(ft.results)
            decl = f"declare hidden {ret} @w{i}({', '.join(IR_TYPE[t] for t in ft.params)}) #0"
            functions.append(IRFunction(i, text, decl, cost))

        callable_funcs = sorted({e.index for e in m.exports if e.kind == KIND_FUNC}
                                | ({m.start} if m.start is not None else set()))
        wrappers = [self._entry_wrapper(i, m.func_type(i)) for i in callable_funcs]

        trailer = [METADATA]
        if self.debug_info:
            trailer.append(f"!llvm.dbg.cu = !{{!{self._cu}}}")
            flags_a = self._metadata('!{i32 2, !"Dwarf Version", i32 4}')
            flags_b = self._metadata('!{i32 2, !"Debug Info Version", i32 3}')
            trailer.append(f"!llvm.module.flags = !{{!{flags_a}, !{flags_b}}}")
            trailer.extend(self._md)
        return IRModule("\n".join(header), data, functions, "\n".join(wrappers), "\n".join(trailer))

    def _import_thunk(self, index: int, ft: FuncType) -> str:
        """Imported function N as a local function: call the import, then check for a
        pending host exception (a Python callback cannot unwind native frames itself)."""
        ret = ir_result_type(ft.results)
        params = [IR_TYPE[t] for t in ft.params]
        plist = ", ".join(f"{t} %p{i}" for i, t in enumerate(params))
        args = ", ".join(f"{t} %p{i}" for i, t in enumerate(params))
        call = f"call {ret} @wr.import{index}({args})"
        lines = [f"declare {ret} @wr.import{index}({', '.join(params)})",
                 f"define internal {ret} @w{index}({plist}) #0 {{",
                 f"  {'%r = ' if ret != 'void' else ''}{call}",
                 "  %pending = load i32, ptr @wr_pending",
                 "  %bad = icmp ne i32 %pending, 0",
                 "  br i1 %bad, label %trap, label %ok, !prof !5",
                 "trap:",
                 f"  call void @wr_trap(i32 {int(TrapKind.HOST_EXCEPTION)})",
                 "  unreachable",
                 "ok:",
                 f"  ret {ret} {'%r' if ret != 'void' else ''}".rstrip(),
                 "}"]
        return "\n".join(lines)

    def _entry_wrapper(self, index: int, ft: FuncType) -> str:
        """``void wr.call<N>(u64 *slots)``: arguments in, results out, one 8-byte slot each."""
        lines = [f"define void @wr.call{index}(ptr %slots) #0 {{"]
        args = []
        for i, t in enumerate(ft.params):
            ty = IR_TYPE[t]
            lines.append(f"  %ap{i} = getelementptr i64, ptr %slots, i32 {i}")
            lines.append(f"  %a{i} = load {ty}, ptr %ap{i}")
            args.append(f"{ty} %a{i}")
        ret = ir_result_type(ft.results)
        call = f"call {ret} @w{index}({', '.join(args)})"
        if not ft.results:
            lines.append(f"  {call}")
        else:
            lines.append(f"  %r = {call}")
            for i, t in enumerate(ft.results):
                ty = IR_TYPE[t]
                if len(ft.results) == 1:
                    v = "%r"
                else:
                    v = f"%r{i}"
                    lines.append(f"  {v} = extractvalue {ret} %r, {i}")
                lines.append(f"  %rp{i} = getelementptr i64, ptr %slots, i32 {i}")
                lines.append(f"  store {ty} {v}, ptr %rp{i}")
        lines.append("  ret void")
        lines.append("}")
        return "\n".join(lines)


def translate_module(module: Module, options: TranslateOptions | None = None,
                     source_name: str = "module.wasm") -> "IRModule":
    return ModuleTranslator(module, options or TranslateOptions(), source_name).translate()


@dataclass
class IRFunction:
    index: int
    text: str     # the definition
    decl: str     # a declaration, for other partitions
    cost: int     # wasm body size: a proxy for compile time


@dataclass
class IRData:
    typeids: str
    funcrefs: str
    typeids_decl: str
    funcrefs_decl: str


@dataclass
class IRModule:
    """The module's IR in pieces, so it can be compiled whole or in partitions in parallel."""

    header: str
    data: IRData
    functions: list[IRFunction]
    wrappers: str
    trailer: str

    def text(self) -> str:
        return self.partitions(1)[0]

    def partitions(self, n: int) -> list[str]:
        """n self-contained module texts; partition 0 also holds the data and entry wrappers.

        Functions are dealt largest first onto the lightest partition, so compile
        times come out even.  With n > 1 wasm functions get hidden (not internal)
        linkage: the partitions' objects are linked into one JIT library.
        """
        n = max(1, min(n, len(self.functions)))
        if n == 1:
            return ["\n".join([self.header, self.data.typeids, self.data.funcrefs,
                               *(f.text for f in self.functions), self.wrappers, self.trailer]) + "\n"]
        bins: list[list[IRFunction]] = [[] for _ in range(n)]
        load = [0] * n
        for f in sorted(self.functions, key=lambda f: -f.cost):
            k = load.index(min(load))
            bins[k].append(f)
            load[k] += f.cost + 50
        out = []
        for k, fs in enumerate(bins):
            defined = {f.index for f in fs}
            parts = [self.header]
            if k == 0:
                parts += [self.data.typeids, self.data.funcrefs]
            else:
                parts += [self.data.typeids_decl, self.data.funcrefs_decl]
            parts += [f.decl for f in self.functions if f.index not in defined]
            parts += [f.text.replace("define internal ", "define hidden ", 1) for f in fs]
            if k == 0:
                parts.append(self.wrappers)
            parts.append(self.trailer)
            out.append("\n".join(parts) + "\n")
        return out
