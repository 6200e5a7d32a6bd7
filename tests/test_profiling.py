"""The jitdump and perf-map agents, read back without perf."""
from __future__ import annotations

import ctypes
import os
import platform
import re
import struct
import threading
import time
from pathlib import Path

import pytest

from runner.profiling import (JitDumpAgent, LineRow, NullAgent, PerfMapAgent, ProfilingAgent,
                              make_agent, read_jitdump)
from runner.profiling.jitdump import CodeClose, DebugInfo, line_table


def _code(data: bytes) -> tuple[ctypes.Array, int]:
    buf = ctypes.create_string_buffer(data, len(data))
    return buf, ctypes.addressof(buf)


@pytest.fixture
def three_functions(tmp_path):
    """Dump three fake functions: with lines, without, and with messy lines."""
    bufs = [_code(bytes(range(i, i + 48))) for i in (1, 60, 120)]
    (_, a), (_, b), (_, c) = bufs
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    agent = JitDumpAgent(tmp_path)
    agent.register_function("fib::fib", a, 48,
                            [LineRow(a, "/src/fib.rs", 7), LineRow(a + 10, "/src/fib.rs", 8, 5)])
    agent.register_function("wasm-function[3]", b, 48)
    agent.register_function("<T as core::any::Any>::type_id", c, 48, [
        LineRow(c + 20, "/src/lib.rs", 12),
        LineRow(c + 4, "/src/lib.rs", 0),      # leading compiler-generated code
        LineRow(c + 8, "/src/lib.rs", 10),
        LineRow(c + 30, "/src/lib.rs", 0),     # merged into line 12
        LineRow(c + 36, "/src/lib.rs", 12),    # same line again: collapsed
        LineRow(c + 40, "/src/other.rs", 3),
        LineRow(c + 48, "/src/lib.rs", 99),    # outside the function
    ])
    agent.close()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    return agent, [a, b, c], before, after


def test_header(three_functions):
    agent, _, before, after = three_functions
    assert agent.path.name == f"jit-{os.getpid()}.dump"
    header = read_jitdump(agent.path).header
    assert (header.version, header.total_size, header.flags) == (1, 40, 0)
    assert header.pid == os.getpid()
    assert before <= header.timestamp <= after
    if platform.machine() == "x86_64":
        assert header.elf_mach == 62
    assert agent.path.read_bytes()[:4] == struct.pack("=I", 0x4A695444)


def test_code_loads(three_functions):
    agent, addrs, before, after = three_functions
    dump = read_jitdump(agent.path)
    loads = dump.code_loads
    assert [l.name for l in loads] == ["fib::fib", "wasm-function[3]", "<T as core::any::Any>::type_id"]
    assert [l.code_index for l in loads] == [0, 1, 2]
    for load, addr, first in zip(loads, addrs, (1, 60, 120)):
        assert load.vma == load.code_addr == addr
        assert load.code_size == 48 and load.code == bytes(range(first, first + 48))
        assert (load.pid, load.tid) == (os.getpid(), threading.get_native_id())
    stamps = [r.timestamp for r in dump.records]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert isinstance(dump.records[-1], CodeClose)


def test_debug_info_precedes_its_code_load(three_functions):
    agent, (a, b, c), _, _ = three_functions
    dump = read_jitdump(agent.path)
    fib, plain, type_id = dump.code_loads
    assert dump.debug_info_for(plain) is None
    info = dump.debug_info_for(fib)
    assert info.code_addr == a
    assert [(e.address, e.line, e.file) for e in info.entries] == [
        (a, 7, "/src/fib.rs"), (a + 10, 8, "/src/fib.rs"), (a + 48, 8, "/src/fib.rs")]
    assert sum(isinstance(r, DebugInfo) for r in dump.records) == 2


def test_debug_info_cleanup(three_functions):
    """Sorted, absolute, no line 0, nothing outside, a sentinel at the end."""
    agent, (_, _, c), _, _ = three_functions
    dump = read_jitdump(agent.path)
    entries = dump.debug_info_for(dump.code_loads[2]).entries
    assert [(e.address - c, e.line, e.file) for e in entries] == [
        (0, 10, "/src/lib.rs"),   # the first real row starts the function
        (20, 12, "/src/lib.rs"),
        (40, 3, "/src/other.rs"),
        (48, 3, "/src/other.rs"),  # sentinel at code_addr + size
    ]


def test_line_table_edge_cases():
    assert line_table([], 0x1000, 16) == []
    assert line_table([LineRow(0x1000, "a.rs", 0)], 0x1000, 16) == []
    # The last row at one address wins; a line-0 row there does not hide a real one.
    rows = [LineRow(0x1004, "a.rs", 1), LineRow(0x1004, "a.rs", 2), LineRow(0x1004, "a.rs", 0)]
    assert line_table(rows, 0x1000, 16) == [(0x1000, 2, "a.rs"), (0x1010, 2, "a.rs")]


def test_marker_mapping_lives_until_close(tmp_path):
    agent = JitDumpAgent(tmp_path)

    def mapped() -> list[str]:
        return [l for l in Path("/proc/self/maps").read_text().splitlines()
                if l.endswith(str(agent.path))]

    lines = mapped()
    assert len(lines) == 1 and lines[0].split()[1] == "r-xp"
    agent.close()
    assert mapped() == []
    agent.close()  # idempotent
    with pytest.raises(ValueError):
        agent.register_function("late", 0x1000, 0)


def test_location_cwd_or_jitdumpdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JITDUMPDIR", raising=False)
    with make_agent("jitdump") as agent:
        assert agent.path.resolve() == tmp_path / f"jit-{os.getpid()}.dump"
    target = tmp_path / "dumps"
    target.mkdir()
    monkeypatch.setenv("JITDUMPDIR", str(target))
    with make_agent("jitdump") as agent:
        assert agent.path == target / f"jit-{os.getpid()}.dump"
    assert agent.path.exists()


def test_other_thread_and_odd_names(tmp_path):
    buf, addr = _code(b"\x90" * 8)
    with JitDumpAgent(tmp_path) as agent:
        t = threading.Thread(target=agent.register_function, args=("bad\0name\n", addr, 8))
        t.start()
        t.join()
        agent.register_function("", addr, 8)
    first, second = read_jitdump(agent.path).code_loads
    assert first.tid == t.native_id != threading.get_native_id()
    assert first.name == "bad?name?" and first.code == b"\x90" * 8
    assert second.name == f"jit_{addr:x}"


def test_reader_handles_other_byte_order(tmp_path):
    name = b"f\0"
    body = struct.pack(">IIQQQQ", 7, 8, 0x1000, 0x1000, 2, 0) + name + b"\xc3\xc3"
    data = (struct.pack(">IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, 7, 5, 0)
            + struct.pack(">IIQ", 0, 16 + len(body), 6) + body)
    path = tmp_path / "jit-7.dump"
    path.write_bytes(data)
    dump = read_jitdump(path)
    assert dump.header.byte_order == ">" and dump.header.pid == 7
    load, = dump.code_loads
    assert (load.name, load.code_addr, load.code, load.timestamp) == ("f", 0x1000, b"\xc3\xc3", 6)


def test_reader_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"\0" * 40)
    with pytest.raises(ValueError, match="magic"):
        read_jitdump(bad)
    buf, addr = _code(b"abcd")
    with JitDumpAgent(tmp_path) as agent:
        agent.register_function("f", addr, 4)
    bad.write_bytes(agent.path.read_bytes()[:-20])  # cut into the CODE_LOAD
    with pytest.raises(ValueError):
        read_jitdump(bad)


def test_perfmap(tmp_path):
    with PerfMapAgent(tmp_path) as agent:
        agent.register_function("fib::fib", 0x7F0012340000, 0x56, [LineRow(0, "x", 1)])
        agent.register_function("<T as core::any::Any>::type_id", 0x10, 1)
        agent.register_function("two\nlines", 0x20, 2)
    assert agent.path == tmp_path / f"perf-{os.getpid()}.map"
    lines = agent.path.read_text().splitlines()
    assert lines == ["7f0012340000 56 fib::fib", "10 1 <T as core::any::Any>::type_id",
                     "20 2 two?lines"]
    assert all(re.fullmatch(r"[0-9a-f]+ [0-9a-f]+ \S.*", l) for l in lines)


def test_make_agent():
    assert type(make_agent(None)) is NullAgent
    with pytest.raises(ValueError, match="jitdump"):
        make_agent("vtune")
    agent = make_agent("perfmap")
    try:
        assert isinstance(agent, PerfMapAgent) and agent.path == Path(f"/tmp/perf-{os.getpid()}.map")
    finally:
        agent.close()
        agent.path.unlink()
    null = NullAgent()
    assert isinstance(null, ProfilingAgent)
    null.register_function("f", 0, 0, [LineRow(0, "a", 1)])
    null.close()


def test_srcline_counts(tmp_path):
    from runner.profiling.srcline import LineCount, count_lines, format_table

    buffers = [_code(b"\x90" * 32), _code(b"\x90" * 16)]  # alive while the agent reads them
    (_, a), (_, b) = buffers
    with JitDumpAgent(tmp_path) as agent:
        agent.register_function("fib::fib", a, 32, [LineRow(a, "fib.rs", 7), LineRow(a + 16, "fib.rs", 8)])
        agent.register_function("plain", b, 16)
    dump = read_jitdump(agent.path)
    pid = os.getpid()
    script = [
        f"    7f0000000010 fib::fib+0x3 (/out/jitted-{pid}-0.so)\n",
        f"    7f0000000020 fib::fib+0x10 (/out/jitted-{pid}-0.so)\n",
        f"    7f0000000021 fib::fib+0x1f (/out/jitted-{pid}-0.so)\n",
        f"    7f0000000030 plain (/out/jitted-{pid}-1.so)\n",
        "    7f0000000040 main+0x5 (/usr/bin/python3)\n",
        "    ffffffff81000000 [unknown] ([unknown])\n",
        "not a sample line\n",
    ]
    rows, total = count_lines(script, [dump])
    assert total == 6
    assert rows == [LineCount(2, "fib::fib", "fib.rs:8"), LineCount(1, "fib::fib", "fib.rs:7"),
                    LineCount(1, "plain", "??")]
    table = format_table(rows, total)
    assert "# Samples in wasm code by source line (4 of 6 samples)" in table
    assert re.search(r"33\.33%\s+2\s+fib::fib\s+fib\.rs:8", table)
