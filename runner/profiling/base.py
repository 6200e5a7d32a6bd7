"""The profiling-agent interface the runtime talks to."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

__all__ = ["LineRow", "ProfilingAgent", "NullAgent", "clean_name"]


@dataclass(frozen=True)
class LineRow:
    """One row of a native line table: code at *address* (absolute) comes from file:line."""

    address: int
    file: str
    line: int
    column: int = 0


class ProfilingAgent:
    """Tells an external profiler where each compiled function lives.

    The runtime calls ``register_function`` once per function, after its code is
    at its final address and before it first runs, then ``close`` at the end.
    The base class records nothing.
    """

    def register_function(self, name: str, address: int, size: int,
                          lines: Sequence[LineRow] = ()) -> None:
        """Announce *size* bytes of native code at *address* called *name*."""

    def close(self) -> None:
        """Finish the output; idempotent."""

    def __enter__(self) -> "ProfilingAgent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class NullAgent(ProfilingAgent):
    """The agent used when profiling is off."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(name: str, address: int) -> str:
    """A symbol name safe for both formats: no NUL (jitdump) and no newline (perf map)."""
    return _CONTROL.sub("?", name) or f"jit_{address:x}"
