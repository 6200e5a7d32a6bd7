"""The perf map format: ``/tmp/perf-<pid>.map``, one ``<addr> <size> <name>`` line per function.

perf reads the file at report time for samples in anonymous executable memory,
so it must outlive the process: nothing deletes it.  It carries names only; use
the jitdump agent for source lines and annotation.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence, Union

from .base import LineRow, ProfilingAgent, clean_name

__all__ = ["PerfMapAgent", "perfmap_line"]


def perfmap_line(name: str, address: int, size: int) -> str:
    """One map line: hex start, hex size (no ``0x``), then the name up to the newline."""
    return f"{address:x} {size:x} {clean_name(name, address)}\n"


class PerfMapAgent(ProfilingAgent):
    """Writes ``<directory>/perf-<pid>.map``; perf only looks in /tmp, the default."""

    def __init__(self, directory: Union[str, os.PathLike] = "/tmp"):
        self.pid = os.getpid()
        self.path = Path(directory) / f"perf-{self.pid}.map"
        self._lock = threading.Lock()
        # Truncate: a stale map from an earlier process with our pid would mislabel samples.
        self._file = open(self.path, "w", encoding="utf-8", errors="replace")

    def register_function(self, name: str, address: int, size: int,
                          lines: Sequence[LineRow] = ()) -> None:
        with self._lock:
            if self._file is None:
                raise ValueError(f"{self.path} is closed")
            self._file.write(perfmap_line(name, address, size))
            self._file.flush()  # a crash later must not lose the names perf needs

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
