"""The decoded form of a WebAssembly module: plain data classes, no behaviour.

Offsets are byte offsets into the module file, kept so that errors, traps,
DWARF and jitdump can point back into the binary.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .features import WASM3, Features

# Numeric value types are their binary type codes: comparisons stay cheap and the
# decoder needs no mapping.  Reference types are ``RefType`` values.
I32, I64, F32, F64, V128 = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B

# Abstract heap types, as the (negative) s33 the binary format reads them as; a
# concrete heap type is a type index (>= 0).  The GC proposal's heap types (any, eq,
# i31, struct, array, none) are refused by the decoder.
HT_FUNC, HT_EXTERN, HT_EXN = -0x10, -0x11, -0x17           # 0x70, 0x6F, 0x69
HT_NOFUNC, HT_NOEXTERN, HT_NOEXN = -0x0D, -0x0E, -0x0C     # 0x73, 0x72, 0x74
HEAP_TYPE_NAMES = {HT_FUNC: "func", HT_EXTERN: "extern", HT_EXN: "exn",
                   HT_NOFUNC: "nofunc", HT_NOEXTERN: "noextern", HT_NOEXN: "noexn"}


@dataclass(frozen=True, slots=True)
class RefType:
    """``(ref null? heap)``: ``heap`` is a type index or one of the HT_* codes."""

    nullable: bool
    heap: int

    def __str__(self) -> str:
        return type_name(self)


FUNCREF, EXTERNREF, EXNREF = RefType(True, HT_FUNC), RefType(True, HT_EXTERN), RefType(True, HT_EXN)
NULLFUNCREF, NULLEXTERNREF, NULLEXNREF = RefType(True, HT_NOFUNC), RefType(True, HT_NOEXTERN), RefType(True, HT_NOEXN)
VALTYPE_NAMES = {I32: "i32", I64: "i64", F32: "f32", F64: "f64", V128: "v128",
                 FUNCREF: "funcref", EXTERNREF: "externref", EXNREF: "exnref",
                 NULLFUNCREF: "nullfuncref", NULLEXTERNREF: "nullexternref", NULLEXNREF: "nullexnref"}
NUMERIC_TYPES = (I32, I64, F32, F64)


def is_ref(t) -> bool:
    return type(t) is RefType


def type_name(t) -> str:
    name = VALTYPE_NAMES.get(t)
    if name is not None:
        return name
    if type(t) is RefType:
        heap = HEAP_TYPE_NAMES.get(t.heap, str(t.heap))
        return f"(ref null {heap})" if t.nullable else f"(ref {heap})"
    return f"<type {t:#x}>"


@dataclass(frozen=True)
class FuncType:
    """A function type: parameter and result value types."""

    params: tuple[int, ...]
    results: tuple[int, ...]

    def __str__(self) -> str:
        p = " ".join(type_name(t) for t in self.params)
        r = " ".join(type_name(t) for t in self.results)
        return f"[{p}] -> [{r}]"


@dataclass(frozen=True)
class Limits:
    """Size limits of a table (elements) or memory (pages); ``max`` None: unbounded."""

    min: int
    max: int | None


@dataclass(frozen=True)
class TableType:
    """A table: element reference type and limits."""

    elem_type: RefType
    limits: Limits
    is64: bool = False      # table64: i64 indices


@dataclass(frozen=True)
class MemoryType:
    """A linear memory: limits in 64 KiB pages."""

    limits: Limits  # in 64 KiB pages
    is64: bool = False      # memory64: i64 addresses


@dataclass(frozen=True)
class GlobalType:
    """A global: value type and mutability."""

    val_type: int
    mutable: bool


# Import/export kinds, as in the binary format.
KIND_FUNC, KIND_TABLE, KIND_MEMORY, KIND_GLOBAL, KIND_TAG = 0, 1, 2, 3, 4
KIND_NAMES = {KIND_FUNC: "func", KIND_TABLE: "table", KIND_MEMORY: "memory", KIND_GLOBAL: "global",
              KIND_TAG: "tag"}


@dataclass
class Import:
    """One entry of the import section."""

    module: str
    name: str
    kind: int
    # FuncType index for KIND_FUNC and KIND_TAG; TableType / MemoryType / GlobalType otherwise.
    desc: int | TableType | MemoryType | GlobalType


@dataclass
class Export:
    """One entry of the export section: ``index`` into the ``kind``'s index space."""

    name: str
    kind: int
    index: int


@dataclass
class ConstExpr:
    """A constant expression: one value-producing instruction, or a sequence.

    ``op`` is one of 'i32.const', 'i64.const', 'f32.const', 'f64.const', 'v128.const'
    (``value`` = raw bits as an unsigned int), 'global.get' (``value`` =
    global index), 'ref.null' (``value`` = its RefType), 'ref.func'
    (``value`` = function index); or 'seq' (extended constant expressions:
    ``value`` = a tuple of single-instruction ConstExprs, run on a stack, whose ops
    may also be 'i32.add', 'i32.sub', 'i32.mul', 'i64.add', 'i64.sub', 'i64.mul', or
    'non-constant' (``value`` = the opcode: the validator rejects it)).
    """

    op: str
    value: int
    offset: int


@dataclass
class Global:
    """A defined global: its type and initializer."""

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
    """One entry of the element section."""

    mode: str
    elem_type: int
    init: list[ConstExpr]      # one ref-producing constant expression per element
    table_index: int = 0
    offset: ConstExpr | None = None   # for active segments


@dataclass
class DataSegment:
    """One entry of the data section."""

    mode: str
    data: bytes
    memory_index: int = 0
    offset: ConstExpr | None = None


@dataclass
class CustomSection:
    """A custom section, kept whole."""

    name: str
    payload_offset: int   # where the payload starts in the module bytes
    payload: bytes


@dataclass
class Module:
    """A decoded module: every section, byte offsets kept for errors and DWARF."""

    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    # Index spaces: imported entities come first, as in the spec.
    func_types: list[int] = field(default_factory=list)        # type index of every function (imports included)
    tables: list[TableType] = field(default_factory=list)      # imports included
    memories: list[MemoryType] = field(default_factory=list)   # imports included
    globals: list[GlobalType] = field(default_factory=list)    # imports included
    tags: list[int] = field(default_factory=list)              # type index of every tag (imports included)
    table_inits: list["ConstExpr | None"] = field(default_factory=list)  # defined tables: None = null
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
    features: "Features" = WASM3   # what the decoder accepted; the validator follows it

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
    def num_imported_tags(self) -> int:
        return sum(1 for i in self.imports if i.kind == KIND_TAG)

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
