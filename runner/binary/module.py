"""The decoded form of a WebAssembly module: plain data classes, no behaviour.

Offsets are byte offsets into the module file, kept so that errors, traps,
DWARF and jitdump can point back into the binary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Value types are their binary type codes: comparisons stay cheap and the
# decoder needs no mapping.
I32, I64, F32, F64, V128 = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B
FUNCREF, EXTERNREF = 0x70, 0x6F
VALTYPE_NAMES = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128",
                 FUNCREF: "funcref", EXTERNREF: "externref"}
NUMERIC_TYPES = (I32, I64, F32, F64)
REF_TYPES = (FUNCREF, EXTERNREF)


def type_name(t: int) -> str:
    return VALTYPE_NAMES.get(t, f"<type {t:#x}>")


@dataclass(frozen=True)
class FuncType:
    params: tuple[int, ...]
    results: tuple[int, ...]

    def __str__(self) -> str:
        p = " ".join(type_name(t) for t in self.params)
        r = " ".join(type_name(t) for t in self.results)
        return f"[{p}] -> [{r}]"


@dataclass(frozen=True)
class Limits:
    min: int
    max: int | None


@dataclass(frozen=True)
class TableType:
    elem_type: int  # FUNCREF or EXTERNREF
    limits: Limits


@dataclass(frozen=True)
class MemoryType:
    limits: Limits  # in 64 KiB pages


@dataclass(frozen=True)
class GlobalType:
    val_type: int
    mutable: bool


# Import/export kinds, as in the binary format.
KIND_FUNC, KIND_TABLE, KIND_MEMORY, KIND_GLOBAL = 0, 1, 2, 3
KIND_NAMES = {KIND_FUNC: "func", KIND_TABLE: "table", KIND_MEMORY: "memory", KIND_GLOBAL: "global"}


@dataclass
class Import:
    module: str
    name: str
    kind: int
    # FuncType index for KIND_FUNC; TableType / MemoryType / GlobalType otherwise.
    desc: int | TableType | MemoryType | GlobalType


@dataclass
class Export:
    name: str
    kind: int
    index: int


@dataclass
class ConstExpr:
    """A constant expression: exactly one value-producing instruction.

    ``op`` is one of 'i32.const', 'i64.const', 'f32.const', 'f64.const', 'v128.const'
    (``value`` = raw bits as an unsigned int), 'global.get' (``value`` =
    global index), 'ref.null' (``value`` = ref type), 'ref.func'
    (``value`` = function index).
    """

    op: str
    value: int
    offset: int


@dataclass
class Global:
    type: GlobalType
    init: ConstExpr


@dataclass
class FunctionBody:
    """One entry of the code section; the instructions stay undecoded bytes."""

    locals: list[int]       # types of the declared locals, expanded (params not included)
    code_start: int         # offset of the first instruction in the module bytes
    code_end: int           # offset just past the final `end`
    body_start: int         # offset of the body-size LEB (the locals declaration, where DWARF and wasm-objdump start the function, follows it)


# Element / data segment modes.
MODE_ACTIVE, MODE_PASSIVE, MODE_DECLARATIVE = "active", "passive", "declarative"


@dataclass
class ElementSegment:
    mode: str
    elem_type: int
    init: list[ConstExpr]      # one ref-producing constant expression per element
    table_index: int = 0
    offset: ConstExpr | None = None   # for active segments


@dataclass
class DataSegment:
    mode: str
    data: bytes
    memory_index: int = 0
    offset: ConstExpr | None = None


@dataclass
class CustomSection:
    name: str
    payload_offset: int   # where the payload starts in the module bytes
    payload: bytes


@dataclass
class Module:
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    # Index spaces: imported entities come first, as in the spec.
    func_types: list[int] = field(default_factory=list)        # type index of every function (imports included)
    tables: list[TableType] = field(default_factory=list)      # imports included
    memories: list[MemoryType] = field(default_factory=list)   # imports included
    globals: list[GlobalType] = field(default_factory=list)    # imports included
    global_inits: list[Global] = field(default_factory=list)   # defined globals only
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elements: list[ElementSegment] = field(default_factory=list)
    data: list[DataSegment] = field(default_factory=list)
    data_count: int | None = None
    bodies: list[FunctionBody] = field(default_factory=list)   # defined functions only
    customs: list[CustomSection] = field(default_factory=list)
    function_names: dict[int, str] = field(default_factory=dict)  # from the "name" section
    module_name: str | None = None
    code_section_start: int = 0   # offset of the code section *contents* (DWARF addresses are relative to it)
    raw: bytes = b""

    @property
    def num_imported_funcs(self) -> int:
        return sum(1 for i in self.imports if i.kind == KIND_FUNC)

    @property
    def num_imported_globals(self) -> int:
        return sum(1 for i in self.imports if i.kind == KIND_GLOBAL)

    @property
    def num_imported_tables(self) -> int:
        return sum(1 for i in self.imports if i.kind == KIND_TABLE)

    @property
    def num_imported_memories(self) -> int:
        return sum(1 for i in self.imports if i.kind == KIND_MEMORY)

    def func_type(self, func_index: int) -> FuncType:
        return self.types[self.func_types[func_index]]

    def custom(self, name: str) -> CustomSection | None:
        for c in self.customs:
            if c.name == name:
                return c
        return None
