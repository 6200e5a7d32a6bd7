"""Telling perf about JIT-compiled code: jitdump files and perf maps.

``make_agent("jitdump")`` writes ``jit-<pid>.dump`` for ``perf inject --jit``
(names, code bytes and source lines); ``make_agent("perfmap")`` writes
``/tmp/perf-<pid>.map`` (names only, read directly by ``perf report``).
"""
from __future__ import annotations

from .base import LineRow, NullAgent, ProfilingAgent

__all__ = ["LineRow", "ProfilingAgent", "NullAgent", "JitDumpAgent", "PerfMapAgent",
           "make_agent", "read_jitdump", "AGENT_KINDS"]

AGENT_KINDS = ("jitdump", "perfmap")


def make_agent(kind: str | None) -> ProfilingAgent:
    """The agent for a ``Config.profiler`` value: ``"jitdump"``, ``"perfmap"`` or None."""
    if kind is None or kind == "none":
        return NullAgent()
    if kind == "jitdump":
        from .jitdump import JitDumpAgent
        return JitDumpAgent()
    if kind == "perfmap":
        from .perfmap import PerfMapAgent
        return PerfMapAgent()
    raise ValueError(f"unknown profiler {kind!r}; expected one of {', '.join(AGENT_KINDS)} or None")


def __getattr__(name: str):
    # The agents load on first use: a run without a profiler (and runner.api, which imports
    # .base) never pays for jitdump's mmap/struct set-up.
    if name in ("JitDumpAgent", "read_jitdump"):
        from . import jitdump
        return getattr(jitdump, name)
    if name == "PerfMapAgent":
        from .perfmap import PerfMapAgent
        return PerfMapAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
