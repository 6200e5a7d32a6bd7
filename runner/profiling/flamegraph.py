"""Flame graphs from ``perf script`` output, with no external tools.

Two steps, usable apart:

* ``fold(lines)`` collapses the samples into ``root;...;leaf -> count`` stacks.
  A frame from JIT code (a ``jitted-*.so`` or a perf map) is marked ``_[j]`` and
  a kernel frame ``_[k]``, the convention of Brendan Gregg's FlameGraph tools,
  so ``--fold`` output also works with them;
* ``render_svg(stacks)`` draws the classic layout: root at the bottom, each
  frame as wide as its share of samples, full name and counts in a tooltip.

CLI: ``python -m runner.profiling.flamegraph perf.script > flamegraph.svg``
(``-`` reads stdin, ``--fold`` prints the folded stacks instead).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import zlib
from collections import Counter
from typing import Iterable, Mapping
from xml.sax.saxutils import escape

from runner.names import demangle

__all__ = ["fold", "render_svg", "main"]

# "comm pid[/tid] [cpu] secs.usecs: [period] event:" -- comm may contain spaces.
_HEADER = re.compile(r"^\s*(?P<comm>\S.*?)\s+\d+(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:")
# "ip symbol+0xoff (dso)"; the dso is the last parenthesised group.
_FRAME = re.compile(r"^\s*(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s*\((?P<dso>[^()]*)\)\s*$")
# Without -g the one frame follows the header on its line: "[period] event: ip sym (dso)".
_INLINE_FRAME = re.compile(
    r"^\s+(?:\d+\s+)?\S+:\s+(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s*\((?P<dso>[^()]*)\)\s*$")
_OFFSET = re.compile(r"\+0x[0-9a-f]+$")
_RUST_HASH = re.compile(r"::h[0-9a-f]{16}$")  # perf's own demangler keeps it
_ANNOTATION = re.compile(r"_\[([jk])\]$")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _frame_name(sym: str, dso: str) -> str:
    sym = _OFFSET.sub("", sym.strip())
    base = os.path.basename(dso)
    if not sym or sym == "[unknown]":
        name = f"[{base}]" if dso and dso != "[unknown]" else "[unknown]"
    else:
        name = _RUST_HASH.sub("", demangle(sym))
    name = name.replace(";", ":")  # ";" separates frames in the folded format
    if base.startswith("jitted-") or re.fullmatch(r"perf-\d+\.map", base):
        return name + "_[j]"
    if dso.startswith("[kernel") or dso.startswith("[guest.kernel"):
        return name + "_[k]"
    return name


def _frames(match, leaf: bool, wasm_map) -> list[str]:
    """One perf frame as folded names, leaf first (perf's order)."""
    name = _frame_name(match["sym"], match["dso"])
    if wasm_map is not None and name.endswith("_[j]"):
        off = _OFFSET.search(match["sym"].strip())
        expanded = None
        if off:      # after perf inject: ip is in the jitted .so, the offset is in the function
            expanded = wasm_map.frames_in_dso(match["dso"], int(off.group()[3:], 16), leaf)
        if expanded is None:
            expanded = wasm_map.frames(int(match["ip"], 16), leaf)
        if expanded:
            return [n.replace(";", ":") + "_[j]" for n in reversed(expanded)]
    return [name]


def fold(lines: Iterable[str], include_comm: bool = True, wasm_map=None) -> Counter[str]:
    """Count identical stacks in ``perf script`` text (with or without ``-g``).  With a
    ``wasm_map`` (runner/profiling/wasmmap.py) a JIT frame becomes its function and the
    functions inlined into it there."""
    stacks: Counter[str] = Counter()
    comm: str | None = None
    frames: list[str] = []

    def flush() -> None:
        if comm is not None and frames:
            path = ([comm] if include_comm else []) + frames[::-1]  # perf prints leaf first
            stacks[";".join(path)] += 1

    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            continue
        header = None if line.startswith("\t") else _HEADER.match(line)
        if header:
            flush()
            comm, frames = header["comm"].replace(";", ":"), []
            inline = _INLINE_FRAME.match(line[header.end():])
            if inline:
                frames.extend(_frames(inline, True, wasm_map))
        elif comm is not None:
            frame = _FRAME.match(line)
            if frame:
                frames.extend(_frames(frame, not frames, wasm_map))
    flush()
    return stacks


class _Node:
    __slots__ = ("name", "count", "children")

    def __init__(self, name: str):
        self.name, self.count, self.children = name, 0, {}


def _tree(stacks: Mapping[str, int]) -> _Node:
    root = _Node("all")
    for stack, count in stacks.items():
        root.count += count
        node = root
        for name in stack.split(";"):
            node = node.children.setdefault(name, _Node(name))
            node.count += count
    return root


def _color(name: str) -> str:
    # Stable colours: hash of the name, hue family by frame kind.
    h = zlib.crc32(name.encode("utf-8", "replace"))
    a, b = (h & 0xFF) / 255, ((h >> 8) & 0xFF) / 255
    kind = _ANNOTATION.search(name)
    if kind and kind[1] == "j":  # wasm code: green, so it stands out from the runner
        r, g, bl = 50 + 60 * a, 170 + 60 * b, 60 + 40 * a
    elif kind:  # kernel: orange
        r, g, bl = 225 + 25 * a, 120 + 60 * b, 40
    else:  # everything else: the usual red-yellow
        r, g, bl = 205 + 50 * a, 80 + 150 * b, 50 * a
    return f"rgb({int(r)},{int(g)},{int(bl)})"


def render_svg(stacks: Mapping[str, int], title: str = "Flame Graph", width: int = 1200) -> str:
    """An SVG flame graph of folded *stacks*; names are XML-escaped and tooltips exact."""
    frame_h, pad, top, font = 16, 10, 36, 12
    char_w = font * 0.6
    root = _tree(stacks)
    scale = (width - 2 * pad) / root.count if root.count else 0

    def depth(node: _Node) -> int:  # of the frames wide enough to draw
        if node.count * scale < 0.1:
            return 0
        return 1 + max((depth(c) for c in node.children.values()), default=0)

    height = top + max(depth(root), 1) * frame_h + 2 * pad
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<style>text{{font-family:monospace;font-size:{font}px}} rect{{stroke:white;stroke-width:0.5}}</style>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="rgb(248,248,248)"/>',
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="17">{_xml(title)}</text>',
    ]
    if not root.count:
        out.append(f'<text x="{width / 2:.1f}" y="{top + 16}" text-anchor="middle">no samples</text>')

    def draw(node: _Node, x: float, level: int) -> None:
        w = node.count * scale
        if w < 0.1:  # invisible, and so are all its children
            return
        y = height - pad - (level + 1) * frame_h
        label = _ANNOTATION.sub("", node.name)
        share = 100 * node.count / root.count
        tip = f"{label} ({node.count:,} samples, {share:.2f}%)"
        out.append(f"<g><title>{_xml(tip)}</title>"
                   f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{frame_h - 1}" '
                   f'fill="{_color(node.name)}"/>')
        fits = int((w - 6) // char_w)
        if fits >= 3:
            text = label if len(label) <= fits else label[:fits - 2] + ".."
            out.append(f'<text x="{x + 3:.2f}" y="{y + frame_h - 4}">{_xml(text)}</text>')
        out.append("</g>")
        for name in sorted(node.children):  # alphabetical, as flame graphs are by convention
            child = node.children[name]
            draw(child, x, level + 1)
            x += child.count * scale

    if root.count:
        draw(root, pad, 0)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _xml(text: str) -> str:
    return escape(_NOT_XML.sub("?", text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.profiling.flamegraph",
                                     description="Render `perf script` output as an SVG flame graph.")
    parser.add_argument("input", help="perf script output, or - for stdin")
    parser.add_argument("--title", default="Flame Graph")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--fold", action="store_true", help="print folded stacks instead of SVG")
    parser.add_argument("--no-comm", action="store_true", help="do not start stacks with the process name")
    parser.add_argument("--wasm-map", metavar="FILE",
                        help="jit-<pid>.wasm-map.jsonl (written by wasirun --jitdump -g): expand inlined frames")
    args = parser.parse_args(argv)
    wasm_map = None
    if args.wasm_map:
        from runner.profiling.wasmmap import WasmMap
        wasm_map = WasmMap.load(args.wasm_map)
    if args.input == "-":
        stacks = fold(sys.stdin, include_comm=not args.no_comm, wasm_map=wasm_map)
    else:
        with open(args.input, encoding="utf-8", errors="replace") as f:
            stacks = fold(f, include_comm=not args.no_comm, wasm_map=wasm_map)
    if not stacks:
        print(f"flamegraph: no samples found in {args.input}", file=sys.stderr)
    if args.fold:
        sys.stdout.writelines(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))
    else:
        sys.stdout.write(render_svg(stacks, title=args.title, width=args.width))
    return 0 if stacks else 1


if __name__ == "__main__":
    sys.exit(main())
