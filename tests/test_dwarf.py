"""runner.sourcemap.lines on the real rustc output examples/fib-g.wasm (built by scripts/build-examples.sh)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.binary.decode import decode
from runner.binary.module import Module
from runner.sourcemap.lines import SourceLoc, WasmLineMap

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def fib_g(fib_g_wasm) -> Module:
    return decode(fib_g_wasm.read_bytes())


@pytest.fixture(scope="session")
def line_map(fib_g, tmp_path_factory) -> WasmLineMap:
    lm = WasmLineMap.from_module(fib_g, cache_dir=tmp_path_factory.mktemp("cache"))
    assert lm is not None
    return lm


def code_range(module: Module, raw_name_prefix: str) -> tuple[int, int]:
    """Code offsets [first instruction, end) of the function named in the name section."""
    index = next(i for i, n in module.function_names.items() if n.startswith(raw_name_prefix))
    body = module.bodies[index - module.num_imported_funcs]
    return body.code_start - module.code_section_start, body.code_end - module.code_section_start


def code_size(module: Module) -> int:
    return module.bodies[-1].code_end - module.code_section_start


def test_fib_maps_to_its_lines(fib_g, line_map):
    start, end = code_range(fib_g, "_ZN3fib3fib")
    rows = line_map.rows_in(start, end)
    assert rows[0][0] == start
    assert [a for a, _ in rows] == sorted(a for a, _ in rows)
    assert all(start <= a < end for a, _ in rows)
    lines = {loc.line for _, loc in rows}
    # fn fib spans fib.rs lines 6-12: the compare is line 7, the recursion line 10.
    assert {7, 10} <= lines <= set(range(6, 13))
    for offset in range(start, end):
        loc = line_map.lookup(offset)
        assert loc is not None and 6 <= loc.line <= 12, hex(offset)


def test_file_names_are_absolute(fib_g, line_map):
    start, _ = code_range(fib_g, "_ZN3fib3fib")
    loc = line_map.lookup(start)
    assert os.path.isabs(loc.file)
    assert loc.file.endswith("examples/fib.rs")
    # std code is reported under rustc's source tree, also absolute.
    start, _ = code_range(fib_g, "_ZN3std2rt10lang_start")
    std = line_map.lookup(start)
    assert std is not None and os.path.isabs(std.file) and std.file.endswith(".rs")


def test_lookup_outside_functions(fib_g, line_map):
    assert line_map.lookup(0) is None                   # the function-count LEB
    for body in fib_g.bodies[:20]:                      # body-size LEBs lie between functions
        assert line_map.lookup(body.body_start - fib_g.code_section_start) is None
    assert line_map.lookup(code_size(fib_g)) is None
    assert line_map.lookup(0xFFFFFFFF) is None
    assert line_map.rows_in(code_size(fib_g), 1 << 40) == []


def test_tombstoned_sequences_are_dropped(fib_g, line_map):
    size = code_size(fib_g)
    line_map.rows_in(0, 0x200)           # fib's compile units and their inlined std code
    # Their raw line programs do hold sequences the linker tombstoned ...
    dwarf = line_map._dwarf_info()
    raw = [e.state.address for unit in line_map._tables
           for e in dwarf.line_program_for_CU(dwarf.get_CU_at(unit)).get_entries() if e.state]
    assert max(raw) >= 0xFFFFFFFF
    # ... which the decoded tables leave out.
    assert line_map._tables and all(a < size for addrs, _ in line_map._tables.values() for a in addrs)


def test_module_without_dwarf():
    assert WasmLineMap.from_module(decode((EXAMPLES / "fib.wasm").read_bytes())) is None
    assert WasmLineMap.from_module(Module()) is None


def test_disk_cache_gives_same_answers(fib_g, tmp_path):
    start, end = code_range(fib_g, "_ZN3fib3fib")
    cold = WasmLineMap.from_module(fib_g, cache_dir=tmp_path).rows_in(start, end)
    assert len(list(tmp_path.rglob("*.pickle"))) >= 2       # the index and a unit table
    for f in tmp_path.rglob("cu-*.pickle"):
        f.write_bytes(b"garbage")                            # unreadable entries are rebuilt
    assert WasmLineMap.from_module(fib_g, cache_dir=tmp_path).rows_in(start, end) == cold
    warm = WasmLineMap.from_module(fib_g, cache_dir=tmp_path).rows_in(start, end)
    uncached = WasmLineMap.from_module(fib_g, cache=False).rows_in(start, end)
    assert warm == uncached == cold
    assert isinstance(cold[0][1], SourceLoc)
