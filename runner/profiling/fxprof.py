"""The Firefox Profiler's processed profile format (what profiler.firefox.com opens).

One process, one thread (the one that ran wasm); its samples point into a stack table
(prefix = the caller's stack, null at the root), whose frames point into a frame table,
whose functions into a func table, all names into the thread's string array.  The column
layout is that of processed-profile version 47 (docs-developer/CHANGELOG-formats.md of
firefox-devtools/profiler); the viewer upgrades older versions itself but refuses newer ones.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any

PREPROCESSED_VERSION = 47
GECKO_VERSION = 24             # meta.version: what fxprof-processed-profile writes with processed formats 41..57
# Categories: the viewer colours the graph by them.
CATEGORIES = [
    {"name": "Other", "color": "grey", "subcategories": ["Other"]},
    {"name": "Wasm", "color": "blue", "subcategories": ["Other"]},
    {"name": "Host", "color": "orange", "subcategories": ["Other"]},
]
_CATEGORY = {"wasm": 1, "inlined": 1, "host": 2, "runtime": 0}


class _Strings:
    def __init__(self):
        self.array: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        i = self._index.get(s)
        if i is None:
            i = self._index[s] = len(self.array)
            self.array.append(s)
        return i


def _table(columns: dict[str, list]) -> dict[str, Any]:
    n = len(next(iter(columns.values())))
    return {**columns, "length": n}


def processed_profile(stacks, interval: float, product: str = "wasirun") -> dict[str, Any]:
    """``stacks``: one list of GuestFrame (root first) per sample, ``interval`` in seconds."""
    strings = _Strings()
    funcs: dict[tuple[str, str | None], int] = {}
    func_cols: dict[str, list] = {k: [] for k in ("name", "isJS", "relevantForJS", "resource", "fileName",
                                                  "lineNumber", "columnNumber")}
    frames: dict[tuple[int, int | None, int], int] = {}
    frame_cols: dict[str, list] = {k: [] for k in ("address", "inlineDepth", "category", "subcategory", "func",
                                                   "nativeSymbol", "innerWindowID", "implementation",
                                                   "line", "column")}
    stack_index: dict[tuple[int | None, int], int] = {}
    stack_cols: dict[str, list] = {k: [] for k in ("frame", "prefix", "category", "subcategory")}
    sample_stacks: list[int | None] = []

    def func_of(f) -> int:
        key = (f.name, f.file)
        i = funcs.get(key)
        if i is None:
            i = funcs[key] = len(func_cols["name"])
            func_cols["name"].append(strings(f.name))
            func_cols["isJS"].append(False)
            func_cols["relevantForJS"].append(False)
            func_cols["resource"].append(-1)
            func_cols["fileName"].append(strings(f.file) if f.file else None)
            func_cols["lineNumber"].append(None)
            func_cols["columnNumber"].append(None)
        return i

    for st in stacks:
        prefix: int | None = None
        depth = 0
        for f in st:
            depth = depth + 1 if f.kind == "inlined" else 0
            fn = func_of(f)
            key = (fn, f.line, depth)
            fr = frames.get(key)
            if fr is None:
                fr = frames[key] = len(frame_cols["func"])
                for col, v in (("address", -1), ("inlineDepth", depth), ("category", _CATEGORY[f.kind]),
                               ("subcategory", 0), ("func", fn), ("nativeSymbol", None),
                               ("innerWindowID", 0), ("implementation", None), ("line", f.line),
                               ("column", None)):
                    frame_cols[col].append(v)
            sk = (prefix, fr)
            si = stack_index.get(sk)
            if si is None:
                si = stack_index[sk] = len(stack_cols["frame"])
                stack_cols["frame"].append(fr)
                stack_cols["prefix"].append(prefix)
                stack_cols["category"].append(_CATEGORY[f.kind])
                stack_cols["subcategory"].append(0)
            prefix = si
        sample_stacks.append(prefix)

    ms = interval * 1000.0
    times = [k * ms for k in range(len(sample_stacks))]
    end = times[-1] + ms if times else 0.0
    pid = str(os.getpid())
    thread = {
        "name": "wasm", "processName": product, "processType": "default", "isMainThread": True,
        "pid": pid, "tid": str(threading.get_native_id()),
        "processStartupTime": 0.0, "processShutdownTime": end, "registerTime": 0.0, "unregisterTime": end,
        "pausedRanges": [],
        "samples": {"stack": sample_stacks, "time": times, "weight": None, "weightType": "samples",
                    "length": len(sample_stacks)},
        "markers": {"data": [], "name": [], "startTime": [], "endTime": [], "phase": [], "category": [],
                    "length": 0},
        "stackTable": _table(stack_cols),
        "frameTable": _table(frame_cols),
        "funcTable": _table(func_cols),
        "resourceTable": {"lib": [], "name": [], "host": [], "type": [], "length": 0},
        "nativeSymbols": {"libIndex": [], "address": [], "name": [], "functionSize": [], "length": 0},
        "stringArray": strings.array,
    }
    meta = {
        "version": GECKO_VERSION, "preprocessedProfileVersion": PREPROCESSED_VERSION,
        "interval": ms, "startTime": time.time() * 1000.0 - end, "processType": 0,
        "product": product, "stackwalk": 1, "debug": False, "symbolicated": True,
        "platform": "Linux", "oscpu": os.uname().machine, "toolkit": "", "abi": "", "misc": "",
        "categories": CATEGORIES, "markerSchema": [], "importedFrom": "wasirun --profile=guest",
        "extensions": {"baseURL": [], "id": [], "name": [], "length": 0},
    }
    return {"meta": meta, "libs": [], "pages": [], "counters": [], "threads": [thread]}
