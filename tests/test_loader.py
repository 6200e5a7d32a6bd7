"""runner/loader.py: link real LLVM objects into an image, map it, and call the code."""
from __future__ import annotations

import ctypes
import functools
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

llvm = pytest.importorskip("llvmlite.binding")

from runner import loader  # noqa: E402
from runner.loader import ImageError, dumps, link, loads, loads_header, map_image, process_symbol  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


# --- compiling --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def target_machine(reloc: str = "pic", codemodel: str = "small"):
    """As runner/jit.py makes them (other relocation models / code models for the error tests)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()   # the runtime IR has module-level asm
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=2, reloc=reloc, codemodel=codemodel, jit=True)


def compile_ir(text: str, optimize: bool = False, **tm_args) -> bytes:
    tm = target_machine(**tm_args)
    mod = llvm.parse_assembly(text)
    mod.triple = llvm.get_default_triple()
    mod.data_layout = str(tm.target_data)
    mod.verify()
    if optimize:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
        pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


def relocation_types(obj: bytes) -> set[int]:
    """Relocation types of the code and data sections an image holds: SHF_ALLOC, .eh_frame aside
    (its PC32 words are checked by test_exceptions.py); read with pyelftools, an independent ELF reader."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    elf = ELFFile(io.BytesIO(obj))
    out = set()
    for s in elf.iter_sections():
        if not isinstance(s, RelocationSection):
            continue
        target = elf.get_section(s["sh_info"])
        if target["sh_flags"] & 2 and target.name != ".eh_frame":
            out.update(r["r_info_type"] for r in s.iter_relocations())
    return out


def section_names(obj: bytes) -> dict[str, int]:
    from elftools.elf.elffile import ELFFile
    elf = ELFFile(io.BytesIO(obj))
    return {s.name: i for i, s in enumerate(elf.iter_sections())}


@pytest.fixture
def mapped():
    """map_image, closing every image after the test."""
    images = []

    def do(source, resolve=lambda name: None, **kw):
        li = map_image(source, resolve, **kw)
        images.append(li)
        return li

    yield do
    for li in images:
        li.close()


def fn(li, name, restype, *argtypes):
    return ctypes.CFUNCTYPE(restype, *argtypes)(li.address(name))


def mapping_lines(li) -> list[tuple[int, int, str, str]]:
    """/proc/self/maps rows inside the image: (start, end, perms, path)."""
    rows = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split()
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if lo >= li.base and hi <= li.base + li.size:
            rows.append((lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return rows


def anonymous_kb(start: int) -> int:
    """The Anonymous: field of /proc/self/smaps for the mapping that starts at ``start``."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    head = f"{start:x}-"
    for i, line in enumerate(lines):
        if line.startswith(head):
            for field in lines[i + 1:]:
                if field.startswith("Anonymous:"):
                    return int(field.split()[1])
    raise LookupError(hex(start))


I32, I64, F64, P = ctypes.c_int32, ctypes.c_int64, ctypes.c_double, ctypes.c_void_p


# --- cross-object symbols ---------------------------------------------------------------------

OBJ_A = """
declare hidden i32 @g(i32)
define hidden i32 @h(i32 %x) noinline { %r = mul i32 %x, 3
  ret i32 %r }
define i32 @f(i32 %x) noinline { %a = call i32 @g(i32 %x)
  %b = add i32 %a, 1
  ret i32 %b }
"""
OBJ_B = """
declare hidden i32 @h(i32)
@ptr_h = hidden global ptr @h
define hidden i32 @g(i32 %x) noinline { %a = call i32 @h(i32 %x)
  %b = add i32 %a, 100
  ret i32 %b }
define i32 @call_ptr_h(i32 %x) { %p = load ptr, ptr @ptr_h
  %r = call i32 %p(i32 %x)
  ret i32 %r }
"""


def test_two_objects_call_each_others_hidden_functions(mapped):
    image = link([compile_ir(OBJ_A), compile_ir(OBJ_B)])
    assert image.imports == []
    assert {"f", "g", "h", "ptr_h", "call_ptr_h"} <= set(image.symbols)
    li = mapped(image)
    assert fn(li, "f", I32, I32)(5) == 5 * 3 + 100 + 1
    assert fn(li, "call_ptr_h", I32, I32)(7) == 21
    assert ctypes.c_void_p.from_address(li.address("ptr_h")).value == li.address("h")


def test_duplicate_definition_is_an_error():
    obj = compile_ir("define i32 @same() { ret i32 1 }")
    with pytest.raises(ImageError, match="duplicate symbol same"):
        link([obj, obj])


def test_comdat_and_common_symbols_are_merged(mapped):
    text = """
$pick = comdat any
define linkonce_odr hidden i32 @pick() comdat { ret i32 {V} }
@shared = common global i64 0, align 8
define i32 @get{V}() { %r = call i32 @pick()
  ret i32 %r }
define ptr @shared{V}() { ret ptr @shared }
"""
    objs = [compile_ir(text.replace("{V}", str(v))) for v in (1, 2)]
    image = link(objs)
    li = mapped(image)
    assert fn(li, "get1", I32)() == fn(li, "get2", I32)() == 1    # the first object's copy wins
    assert fn(li, "shared1", P)() == fn(li, "shared2", P)() == li.address("shared")


# --- external symbols -------------------------------------------------------------------------

CALLBACK = ctypes.CFUNCTYPE(I64, I64)


def test_external_function_is_called_through_a_stub(mapped):
    obj = compile_ir("""
declare i64 @host_cb(i64)
define i64 @run(i64 %x) { %a = call i64 @host_cb(i64 %x)
  %b = mul i64 %a, 2
  ret i64 %b }
define i64 @tail(i64 %x) { %a = tail call i64 @host_cb(i64 %x)
  ret i64 %a }
""")
    seen = []
    cb = CALLBACK(lambda x: seen.append(x) or x + 1)
    image = link([obj])
    assert image.imports == ["host_cb"]
    li = mapped(image, {"host_cb": ctypes.cast(cb, P).value}.__getitem__)
    assert fn(li, "run", I64, I64)(20) == 42
    assert fn(li, "tail", I64, I64)(5) == 6
    assert seen == [20, 5]


EXTERNAL_GLOBAL = """
@ext_counter = external global i64
define i64 @get() { %v = load i64, ptr @ext_counter
  ret i64 %v }
define void @set(i64 %v) { store i64 %v, ptr @ext_counter
  ret void }
define ptr @where() { ret ptr @ext_counter }
"""


def test_external_global_through_the_got(mapped):
    obj = compile_ir(EXTERNAL_GLOBAL)
    assert relocation_types(obj) <= {loader.R_REX_GOTPCRELX, loader.R_GOTPCRELX, loader.R_GOTPCREL}
    image = link([obj])
    cell = ctypes.c_int64(1234)
    li = mapped(image, {"ext_counter": ctypes.addressof(cell)}.__getitem__)
    assert fn(li, "get", I64)() == 1234
    fn(li, "set", None, I64)(-5)
    assert cell.value == -5
    assert fn(li, "where", P)() == ctypes.addressof(cell)


def test_pc_relative_reference_to_external_data_is_an_error():
    obj = compile_ir(EXTERNAL_GLOBAL.replace("external global", "external dso_local global"))
    assert loader.R_PC32 in relocation_types(obj)
    with pytest.raises(ImageError, match="external data symbol ext_counter"):
        link([obj])


def test_unknown_import_names_the_symbol():
    image = link([compile_ir(EXTERNAL_GLOBAL)])
    with pytest.raises(ImageError, match="unresolved import ext_counter"):
        map_image(image, {}.__getitem__)
    with pytest.raises(ImageError, match="unresolved import ext_counter"):
        map_image(image, process_symbol)   # None counts as unknown too


def test_weak_undefined_symbol_may_stay_null(mapped):
    obj = compile_ir("""
@maybe = extern_weak global i32
define i1 @has() { %c = icmp ne ptr @maybe, null
  ret i1 %c }
""")
    image = link([obj])
    assert image.imports == ["maybe"] and image.weak_imports == [0]
    assert fn(mapped(image), "has", ctypes.c_bool)() is False
    cell = ctypes.c_int32()
    assert fn(mapped(image, {"maybe": ctypes.addressof(cell)}.__getitem__), "has", ctypes.c_bool)() is True


# --- data -------------------------------------------------------------------------------------

TABLES = """
declare i32 @host_i32(i32)
define internal i32 @inc(i32 %x) noinline { %r = add i32 %x, 1
  ret i32 %r }
define i32 @dbl(i32 %x) noinline { %r = mul i32 %x, 2
  ret i32 %r }
@tbl = global [3 x ptr] [ptr @inc, ptr @dbl, ptr @host_i32]
@rotbl = constant [2 x ptr] [ptr @dbl, ptr @inc]
@counter = global i64 0
@bytes = global [100 x i8] zeroinitializer, align 64
define i32 @call(i32 %i, i32 %x) { %p = getelementptr [3 x ptr], ptr @tbl, i32 0, i32 %i
  %f = load ptr, ptr %p
  %r = call i32 %f(i32 %x)
  ret i32 %r }
define i32 @call_ro(i32 %i, i32 %x) { %p = getelementptr [2 x ptr], ptr @rotbl, i32 0, i32 %i
  %f = load ptr, ptr %p
  %r = call i32 %f(i32 %x)
  ret i32 %r }
define i64 @bump() { %v = load i64, ptr @counter
  %w = add i64 %v, 1
  store i64 %w, ptr @counter
  ret i64 %w }
"""


def test_function_pointer_tables_and_bss(mapped):
    obj = compile_ir(TABLES)
    assert loader.R_64 in relocation_types(obj)
    assert ".bss" in section_names(obj) and ".data.rel.ro" in section_names(obj)
    image = link([obj])
    assert len(image.base_relocs) == 4          # inc, dbl twice each
    assert [(k, a) for _o, k, a in image.ext_relocs] == [(0, 0)]   # host_i32 in @tbl
    host = ctypes.CFUNCTYPE(I32, I32)(lambda x: x - 10)
    li = mapped(image, {"host_i32": ctypes.cast(host, P).value}.__getitem__)
    call, call_ro = fn(li, "call", I32, I32, I32), fn(li, "call_ro", I32, I32, I32)
    assert [call(0, 5), call(1, 5), call(2, 5)] == [6, 10, -5]
    assert [call_ro(0, 5), call_ro(1, 5)] == [10, 6]
    table = (P * 3).from_address(li.address("tbl"))
    assert table[1] == li.address("dbl") and table[2] == ctypes.cast(host, P).value
    bump = fn(li, "bump", I64)
    assert [bump(), bump(), bump()] == [1, 2, 3]
    assert I64.from_address(li.address("counter")).value == 3
    assert li.address("bytes") % 64 == 0
    assert image.symbols["bytes"][1] == 100


def test_switch_jump_table(mapped):
    cases = "\n".join(f"  i32 {i}, label %c{i}" for i in range(12))
    blocks = "\n".join(f"c{i}:\n  %r{i} = mul i32 %y, {i * 7 + 3}\n  ret i32 %r{i}" for i in range(12))
    obj = compile_ir(f"""
define i32 @sw(i32 %x, i32 %y) {{
  switch i32 %x, label %other [
{cases}
  ]
{blocks}
other:
  ret i32 -1
}}""")
    assert ".rodata" in section_names(obj)     # the jump table, PC32 entries against .text
    sw = fn(mapped(link([obj])), "sw", I32, I32, I32)
    assert [sw(i, 2) for i in range(13)] == [2 * (i * 7 + 3) for i in range(12)] + [-1]


def test_float_constants_and_libm(mapped):
    obj = compile_ir("""
declare double @llvm.ceil.f64(double)
define double @poly(double %x) { %a = fmul double %x, 3.25
  %b = fadd double %a, 0.125
  ret double %b }
define void @vec(ptr %p) { %v = load <4 x float>, ptr %p
  %w = fmul <4 x float> %v, <float 1.5, float 2.5, float 3.5, float 4.5>
  %z = fadd <4 x float> %w, <float 0.25, float 0.5, float 0.75, float 1.0>
  store <4 x float> %z, ptr %p
  ret void }
define double @rem(double %a, double %b) { %r = frem double %a, %b
  ret double %r }
define double @up(double %x) { %r = call double @llvm.ceil.f64(double %x)
  ret double %r }
""")
    names = section_names(obj)
    assert ".rodata.cst8" in names and ".rodata.cst16" in names
    image = link([obj])
    assert "fmod" in image.imports
    li = mapped(image, process_symbol)
    assert fn(li, "poly", F64, F64)(2.0) == 6.625
    v = (ctypes.c_float * 4)(1, 2, 3, 4)
    fn(li, "vec", None, P)(ctypes.addressof(v))
    assert list(v) == [1.75, 5.5, 11.25, 19.0]
    assert fn(li, "rem", F64, F64, F64)(7.5, 2.0) == 1.5
    assert fn(li, "up", F64, F64)(2.25) == 3.0


def test_memcpy_memset_memmove_call_libc(mapped):
    obj = compile_ir("""
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)
declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)
declare void @llvm.memmove.p0.p0.i64(ptr, ptr, i64, i1)
define void @copy(ptr %d, ptr %s, i64 %n) { call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %s, i64 %n, i1 false)
  ret void }
define void @copy_big(ptr %d, ptr %s) { call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %s, i64 1000000, i1 false)
  ret void }
define void @fill(ptr %d, i8 %c, i64 %n) { call void @llvm.memset.p0.i64(ptr %d, i8 %c, i64 %n, i1 false)
  ret void }
define void @move(ptr %d, ptr %s, i64 %n) { call void @llvm.memmove.p0.p0.i64(ptr %d, ptr %s, i64 %n, i1 false)
  ret void }
""")
    image = link([obj])
    assert set(image.imports) == {"memcpy", "memset", "memmove"}
    li = mapped(image, process_symbol)
    n = 1_000_000
    src = (ctypes.c_ubyte * n)(*(i % 251 for i in range(n)))
    dst = (ctypes.c_ubyte * n)()
    fn(li, "copy_big", None, P, P)(ctypes.addressof(dst), ctypes.addressof(src))
    assert bytes(dst) == bytes(src)
    fn(li, "fill", None, P, ctypes.c_uint8, I64)(ctypes.addressof(dst), 7, 4097)
    assert bytes(dst[:4098]) == b"\x07" * 4097 + bytes(src[4097:4098])
    fn(li, "copy", None, P, P, I64)(ctypes.addressof(dst), ctypes.addressof(src), 10)
    assert bytes(dst[:11]) == bytes(src[:10]) + b"\x07"
    fn(li, "move", None, P, P, I64)(ctypes.addressof(dst) + 1, ctypes.addressof(dst), 100)
    assert bytes(dst[1:101]) == bytes(src[:10]) + b"\x07" * 90


def test_cold_function_in_text_unlikely(mapped):
    obj = compile_ir("""
define internal i32 @slow(i32 %x) cold noinline { %r = mul i32 %x, 1000
  ret i32 %r }
define i32 @maybe(i32 %x) {
  %c = icmp sgt i32 %x, 100
  br i1 %c, label %cold, label %hot
cold:
  %r = call i32 @slow(i32 %x)
  ret i32 %r
hot:
  ret i32 %x }
""")
    names = section_names(obj)
    assert ".text.unlikely." in names
    image = link([obj])
    code_off, code_size, prot = image.segments[0]
    assert prot == loader.mmap.PROT_READ | loader.mmap.PROT_EXEC
    assert code_off <= image.section_offsets[0][names[".text.unlikely."]] < code_off + code_size
    f = fn(mapped(image), "maybe", I32, I32)
    assert (f(3), f(101)) == (3, 101000)


def test_static_relocation_model_is_rejected():
    # (LLVM 22 reaches a non-dso_local global through the GOT even in the static model.)
    # -fast-isel is process-global and runner/jit.py sets it per compile: back to -O2's default.
    llvm.set_option("", "-fast-isel=false")
    obj = compile_ir("@g = dso_local global i32 0\ndefine ptr @addr() { ret ptr @g }", reloc="static")
    with pytest.raises(ImageError, match="absolute 32-bit relocation.*R_X86_64_32"):
        link([obj])


def test_large_code_model_relocations(mapped):
    """The large code model reaches everything through 64-bit GOT-relative relocations."""
    obj = compile_ir(TABLES + """
@ext_cell = external global i64
declare double @llvm.sqrt.f64(double)
define i64 @read_ext() { %v = load i64, ptr @ext_cell
  ret i64 %v }
define double @k(double %x) { %a = fmul double %x, 1.25
  ret double %a }
""", codemodel="large")
    types = relocation_types(obj)
    assert {loader.R_GOTPC64, loader.R_GOTOFF64} <= types, types
    host = ctypes.CFUNCTYPE(I32, I32)(lambda x: x * 100)
    cell = ctypes.c_int64(99)
    addrs = {"host_i32": ctypes.cast(host, P).value, "ext_cell": ctypes.addressof(cell)}
    li = mapped(link([obj]), addrs.__getitem__)
    call = fn(li, "call", I32, I32, I32)
    assert [call(0, 5), call(1, 5), call(2, 5)] == [6, 10, 500]
    assert fn(li, "read_ext", I64)() == 99
    assert fn(li, "k", F64, F64)(2.0) == 2.5
    assert fn(li, "bump", I64)() == 1


def test_relocation_types_llvm_emits():
    """What the small-code-model PIC objects contain: all of it handled by link()."""
    texts = [OBJ_A, OBJ_B, TABLES, EXTERNAL_GLOBAL]
    seen = set().union(*(relocation_types(compile_ir(t)) for t in texts))
    assert seen == {loader.R_64, loader.R_PC32, loader.R_PLT32, loader.R_REX_GOTPCRELX}, seen


def test_many_functions(mapped):
    """A chain of calls through 400 functions in 3 objects: every call and data reference is
    fixed at link time, at any base address."""
    n = 400
    texts = []
    for part in range(3):
        lines = ["declare i64 @host_cb(i64)", "@ext_counter = external global i64"]
        for i in range(n):
            if i % 3 != part:
                lines.append(f"declare hidden i64 @c{i}(i64)")
        for i in range(part, n, 3):
            body = "%r = add i64 %x, 1" if i == 0 else f"%y = call i64 @c{i - 1}(i64 %x)\n  %r = add i64 %y, {i}"
            lines.append(f"define hidden i64 @c{i}(i64 %x) noinline {{\n  {body}\n"
                         f"  %v = load i64, ptr @ext_counter\n  %w = add i64 %v, 1\n"
                         f"  store i64 %w, ptr @ext_counter\n  ret i64 %r }}")
        texts.append("\n".join(lines))
    image = link([compile_ir(t) for t in texts])
    assert image.imports == ["ext_counter"]
    cell = ctypes.c_int64(0)
    li = mapped(image, {"ext_counter": ctypes.addressof(cell)}.__getitem__)
    assert fn(li, f"c{n - 1}", I64, I64)(0) == 1 + sum(range(n))
    assert cell.value == n


# --- files ------------------------------------------------------------------------------------

def test_file_round_trip_two_copies_with_own_gots(tmp_path, mapped):
    image = link([compile_ir(TABLES), compile_ir(EXTERNAL_GLOBAL)])
    assert loads(dumps(image)) == image
    path = tmp_path / "image.wrimg"
    loader.save(image, path)
    assert loads_header(path).imports == loads_header(path.read_bytes()).imports == image.imports
    cells = [ctypes.c_int64(10), ctypes.c_int64(20)]
    hosts = [ctypes.CFUNCTYPE(I32, I32)(lambda x, k=k: x + 1000 * (k + 1)) for k in range(2)]
    copies = []
    for k in range(2):
        names = {"ext_counter": ctypes.addressof(cells[k]), "host_i32": ctypes.cast(hosts[k], P).value}
        copies.append(mapped(path, names.__getitem__))
    assert copies[0].base != copies[1].base
    for k, li in enumerate(copies):
        assert fn(li, "get", I64)() == cells[k].value
        fn(li, "set", None, I64)(k - 7)
        assert fn(li, "call", I32, I32, I32)(2, 1) == 1 + 1000 * (k + 1)
        assert fn(li, "call", I32, I32, I32)(1, 4) == 8
    assert [c.value for c in cells] == [-7, -6]
    # Code comes from the file, executable but never writable; nothing is RWX.
    for li in copies:
        rows = mapping_lines(li)
        assert rows and all("w" not in perms or "x" not in perms for _lo, _hi, perms, _p in rows)
        code = [r for r in rows if r[2] == "r-xp"]
        assert code and all(p == str(path) for _lo, _hi, _perms, p in code)
        # ... and still the page cache's pages: nothing copied on write.
        assert all(anonymous_kb(lo) == 0 for lo, _hi, _perms, _p in code)
        got = li.base + image.got_offset
        assert any(lo <= got < hi and perms == "r--p" for lo, hi, perms, _p in rows)


def test_damaged_files_are_rejected(tmp_path):
    image = link([compile_ir(TABLES)])
    data = dumps(image)
    assert data[:8] == b"WRIMG001"
    hdr = loads_header(data)
    path = tmp_path / "bad.wrimg"

    def rejected(content: bytes, match: str) -> None:
        path.write_bytes(content)
        with pytest.raises(ImageError, match=match):
            loads_header(content)
        with pytest.raises(ImageError, match=match):
            map_image(path, process_symbol)

    rejected(data[:-1], "truncated")
    rejected(data[:hdr.blob_offset + 4096], "truncated")
    rejected(b"XXIMG001" + data[8:], "bad magic")
    for where, what in ((hdr.blob_offset + 100, "blob"), (hdr.blob_offset - 1, "metadata"),
                        (20, "header"), (len(data) - 3, "trailer")):
        flipped = bytearray(data)
        flipped[where] ^= 0x40
        rejected(bytes(flipped), what)
    with pytest.raises(ImageError, match="cannot open"):
        map_image(tmp_path / "missing.wrimg", process_symbol)


def test_empty_images(tmp_path, mapped):
    """A wasm module without functions still links to an (empty) image that maps."""
    for objs in ([], [compile_ir("declare void @nothing()")]):
        image = link(objs)
        assert image.blob == b"" and image.segments == [] and image.imports == []
        path = tmp_path / "empty.wrimg"
        loader.save(image, path)
        assert mapped(path).base and mapped(image).base


def test_close_is_idempotent():
    li = map_image(link([compile_ir("define i32 @f() { ret i32 3 }")]), process_symbol)
    assert li.address("f")
    with pytest.raises(KeyError):
        li.address("nope")
    li.close()
    li.close()
    with pytest.raises(ImageError, match="closed"):
        li.address("f")


def test_process_symbol():
    for name in ("memcpy", "memmove", "memset", "__sigsetjmp", "siglongjmp", "signal", "writev", "fmod", "ceil"):
        assert process_symbol(name), name
    assert process_symbol("no_such_symbol_anywhere") is None


def test_loader_imports_only_the_standard_library():
    code = ("import sys; import runner.loader; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('llvmlite', 'elftools')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


# --- the real runtime and a real module ---------------------------------------------------------

BOOM = """
declare void @wr_trap(i32) noreturn
define void @boom(ptr %slots) "frame-pointer"="all" { store i32 42, ptr %slots
  call void @wr_trap(i32 7)
  unreachable }
"""


def test_runtime_ir_links_and_wr_enter_runs(mapped):
    from runner.layout import THREAD_STATE_SYMBOL, THREAD_STATE_TLS_SIZE, ThreadState
    from runner.runtime.native import RUNTIME_IR
    from runner.runtime.tls import tls_block
    image = link([compile_ir(RUNTIME_IR), compile_ir(BOOM)])
    assert {"wr_enter", "wr_trap", "wr_segv", "boom"} <= set(image.symbols)
    assert {"__sigsetjmp", "siglongjmp", "signal", THREAD_STATE_SYMBOL} <= set(image.imports)
    offset = tls_block(THREAD_STATE_TLS_SIZE).offset & (1 << 64) - 1
    from runner.runtime.exceptions import unwind_symbols
    unwind = unwind_symbols()    # libgcc_s, as the runtime resolves them (a fresh process has not loaded it)
    li = mapped(image, lambda name: offset if name == THREAD_STATE_SYMBOL else unwind.get(name) or process_symbol(name))
    enter = fn(li, "wr_enter", I32, P, P, ctypes.c_uint64)
    slots = (I32 * 4)()
    cb = ctypes.CFUNCTYPE(None, P)(lambda p: I32.from_address(p).__setattr__("value", 5))
    assert enter(ctypes.cast(cb, P).value, ctypes.addressof(slots), 1 << 20) == 0
    assert slots[0] == 5
    # A trap longjmps from native code only, back to wr_enter, which returns its code.
    assert enter(li.address("boom"), ctypes.addressof(slots), 1 << 20) == 7
    assert slots[0] == 42
    # the GOTTPOFF slot reached this thread's block: wr_thread_state is its address, jmpbuf is clear
    state = ThreadState.from_address(fn(li, "wr_thread_state", P)())
    assert state.jmpbuf is None and state.entry_fp is None


def _fib_texts() -> tuple[list[str], list[int]]:
    """fib.wasm's functions as two module texts that call each other."""
    from runner.binary.decode import decode
    from runner.translate import module as tm
    m = decode((REPO / "examples" / "fib.wasm").read_bytes())
    options = getattr(tm, "TranslateOptions", None)
    if options is None:
        from runner.translate.options import TranslateOptions as options
    ir = tm.translate_module(m, options())
    if hasattr(ir, "partitions"):
        return ir.partitions(2), [f.index for f in ir.functions]
    # The translator as being reworked: a unit of all functions, translated in two halves.
    indices = [f.index for f in ir.functions]
    half = len(indices) // 2
    unit = frozenset(indices)
    return [tm.translate_module(m, options(), functions=part, wrappers=k == 0, unit=unit).text()
            for k, part in enumerate((indices[:half], indices[half:]))], indices


def test_fib_module_links(tmp_path, mapped):
    texts, indices = _fib_texts()
    objs = [compile_ir(t, optimize=True) for t in texts]
    t0 = time.perf_counter()
    image = link(objs)
    t1 = time.perf_counter()
    data = dumps(image)
    t2 = time.perf_counter()
    assert {f"w{i}" for i in indices} <= set(image.symbols)
    runtime = re.compile(r"wr[._]")
    assert all(runtime.match(n) or n in ("memcpy", "memset", "memmove") for n in image.imports), image.imports
    # Some calls cross between the two objects: they are resolved inside the image.
    undefined_w = set()
    from elftools.elf.elffile import ELFFile
    for obj in objs:
        for s in ELFFile(io.BytesIO(obj)).get_section_by_name(".symtab").iter_symbols():
            if s["st_shndx"] == "SHN_UNDEF" and re.fullmatch(r"w\d+", s.name):
                undefined_w.add(s.name)
    assert undefined_w and not undefined_w & set(image.imports)
    path = tmp_path / "fib.wrimg"
    path.write_bytes(data)
    t3 = time.perf_counter()
    li = mapped(path, lambda name: 0x1000)   # not run: any address will do
    t4 = time.perf_counter()
    print(f"\nfib: {len(objs)} objects, {sum(map(len, objs))} bytes -> image {len(image.blob)} bytes, "
          f"{len(image.imports)} imports, {len(image.base_relocs)} base relocs; link {1e3 * (t1 - t0):.2f} ms, "
          f"dumps {1e3 * (t2 - t1):.2f} ms, map_image {1e3 * (t4 - t3):.2f} ms")
    assert li.address("w0") == li.base + image.symbols["w0"][0]
