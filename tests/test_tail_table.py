"""The runtime's table of tail-module instances (@wr_tail_ranges, read by wr_tail_code) stays
right while threads instantiate and free tail modules and others tail-call through it."""

from __future__ import annotations

import gc
import threading

from runner.api import Config, Engine
from runner.runtime.native import NativeRuntime

from .test_tail_calls import PING, PONG, wat

N = 200_000          # far more frames than the stack holds: a missed lookup exhausts it


def _pair(engine, ping, pong):
    a = engine.instantiate(ping)
    b = engine.instantiate(pong, {("a", "ping"): a.exports["ping"], ("a", "table"): a.exports["table"]})
    return a, b


def test_add_and_remove_from_many_threads_lose_nothing():
    rt = NativeRuntime.get()
    # An instance left by an earlier test leaves the table when the collector frees it: let
    # that happen now, not while the threads churn (it would change the count under us).
    gc.collect()
    gc.disable()
    try:
        _churn_from_threads(rt)
    finally:
        gc.enable()


def _churn_from_threads(rt) -> None:
    base = rt._tail_count.value
    fake = [0x7000_0000_0000 + 0x10000 * t for t in range(8)]

    def churn(start):
        for i in range(200):
            records = start + 0x100 * (i % 16)
            rt.add_tail_instance(records, records + 0x40, records + 0x8000)
            rt.add_tail_instance(records, records + 0x40, records + 0x9000)   # again: replaces
            rt.remove_tail_instance(records)

    threads = [threading.Thread(target=churn, args=(f,)) for f in fake]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert rt._tail_count.value == base
    assert rt._tail_gen.value % 2 == 0


def test_tail_calls_across_instances_while_others_come_and_go(tmp_path, monkeypatch):
    monkeypatch.setenv("WASIRUN_CACHE_DIR", str(tmp_path / "cache"))
    engine = Engine(Config(opt_level=0))
    ping, pong = engine.compile(wat(PING)), engine.compile(wat(PONG))
    rt = NativeRuntime.get()
    gc.collect()
    base = rt._tail_count.value
    a, _b = _pair(engine, ping, pong)
    errors: list[BaseException] = []
    results: list[int] = []

    def caller():
        try:
            for _ in range(10):
                results.append(a.exports["ping"](N) + a.exports["ping"](N + 1))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def churner():
        try:
            for _ in range(15):
                x, y = _pair(engine, ping, pong)
                results.append(x.exports["ping"](N) + x.exports["ping"](N + 1))
                del x, y
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (caller, caller, churner, churner)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [300] * 50
    del a, _b
    gc.collect()
    assert rt._tail_count.value == base
