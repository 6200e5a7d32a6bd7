#!/usr/bin/env bash
# Profile a wasm program run by wasirun with perf, in one command:
#   perf record -k mono ... wasirun --jitdump ARGS  ->  perf inject --jit  ->  perf report
# Everything lands in one output directory: perf.data, the jit-<pid>.dump,
# the jitted-<pid>-<n>.so files perf inject makes from it, perf.jit.data,
# report.txt (and srcline.txt, callgraph.txt, perf.script, flamegraph.svg on request).
#
# --srcline runs `perf report --sort sym,srcline` over the span of the run only
# (`--time`, from the jitdump's timestamps): on the whole process, perf 6.1's
# addr2line round trips through libllvmlite.so take minutes (see
# runner/profiling/window.py).
set -uo pipefail

usage() {
    cat <<'EOF'
usage: scripts/profile.sh [options] -- WASIRUN-ARGS...
       e.g. scripts/profile.sh -g --flamegraph -- examples/fib.wasm

  -o, --output DIR  output directory (default: ./wasirun-profile)
  -g                record call graphs (frame-pointer unwinding); writes callgraph.txt
  --flamegraph      also write flamegraph.svg (implies -g)
  --srcline         also report samples by source line (srcline.txt: perf report
                    --sort sym,srcline over the run, without start-up and compiling);
                    runs wasirun with -g (line tables; the wasm needs DWARF too)
  --sort KEYS       perf report sort keys (default: dso,sym)
  -e, --event EV    perf event to sample (default: cpu-clock; `cycles` is often
                    unavailable in VMs)
  -h, --help        this text

wasirun is taken from $WASIRUN if set, else from PATH, else `python3 -m runner.cli`
run from this checkout.
EOF
}

die() { echo "profile.sh: error: $*" >&2; exit 1; }

out=./wasirun-profile callgraph=0 flame=0 srcline=0 event=cpu-clock sort=
while (($#)); do
    case $1 in
        -o|--output) (($# >= 2)) || die "$1 needs a directory"; out=$2; shift 2 ;;
        -g) callgraph=1; shift ;;
        --flamegraph) flame=1 callgraph=1; shift ;;
        --srcline) srcline=1; shift ;;
        --sort) (($# >= 2)) || die "--sort needs keys"; sort=$2; shift 2 ;;
        -e|--event) (($# >= 2)) || die "$1 needs an event"; event=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option $1 (wasirun's own options go after --; see --help)" ;;
        *) break ;;
    esac
done
(($#)) || die "nothing to run: give wasirun's arguments after --, e.g. scripts/profile.sh -- examples/fib.wasm"
sort=${sort:-dso,sym}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
if [[ -n ${WASIRUN:-} ]]; then
    read -ra wasirun <<<"$WASIRUN"
elif command -v wasirun >/dev/null 2>&1; then
    wasirun=(wasirun)
else
    wasirun=("$python" -m runner.cli)
fi
# runner.profiling.flamegraph (and the fallback runner.cli) come from this checkout.
export PYTHONPATH=$repo${PYTHONPATH:+:$PYTHONPATH}

command -v perf >/dev/null 2>&1 || die "perf is not installed (Debian/Ubuntu: apt-get install linux-perf)"

mkdir -p "$out" || die "cannot create output directory $out"
out=$(cd "$out" && pwd)
# Stale dumps and objects from an earlier run would be mistaken for this run's.
rm -f "$out"/jit-*.dump "$out"/jitted-*.so "$out"/perf.data "$out"/perf.data.old \
      "$out"/perf.jit.data "$out"/report.txt "$out"/srcline.txt "$out"/srcline-check.txt "$out"/callgraph.txt "$out"/perf.script \
      "$out"/flamegraph.svg "$out"/{perf-probe,inject,report,script,window}.log

# Probe first, so a permission or event problem gets one clear line instead of
# being mixed into the program's own output.
log=$out/perf-probe.log
if ! perf record -q -k mono -e "$event" -o "$out/probe.data" -- true >"$log" 2>&1; then
    if grep -qiE 'paranoid|not permitted|permission denied|access to performance monitoring' "$log"; then
        paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo '?')
        die "perf record is not permitted (kernel.perf_event_paranoid=$paranoid); run as root or 'sysctl kernel.perf_event_paranoid=1'"
    elif grep -qiE 'not supported|event syntax error|unknown tracepoint|invalid or unsupported' "$log"; then
        die "perf cannot sample event '$event' on this machine; try -e cpu-clock"
    else
        die "perf record does not work here: $(grep -m1 -vE '^\s*$' "$log")"
    fi
fi
rm -f "$out/probe.data" "$log"

record=(-k mono -e "$event" -o "$out/perf.data")
((callgraph)) && record+=(--call-graph fp)
# JITDUMPDIR puts jit-<pid>.dump (and so perf inject's jitted-*.so) into $out
# while wasirun keeps the caller's working directory for its own arguments.
opts=(--jitdump)
((srcline)) && opts+=(-g)
JITDUMPDIR=$out perf record "${record[@]}" -- "${wasirun[@]}" "${opts[@]}" "$@"
status=$?  # perf record exits with the program's status
[[ -s $out/perf.data ]] || die "perf record wrote no $out/perf.data (exit status $status)"
((status == 0)) || echo "profile.sh: note: the program exited with status $status; profiling what was recorded" >&2

shopt -s nullglob
dumps=("$out"/jit-*.dump)
((${#dumps[@]})) || die "wasirun wrote no jit-*.dump into $out (exit status $status; does this wasirun support --jitdump and JITDUMPDIR?)"

if ! perf inject --jit -i "$out/perf.data" -o "$out/perf.jit.data" 2>"$out/inject.log"; then
    die "perf inject --jit failed: $(grep -m1 -vE '^\s*$' "$out/inject.log")"
fi
jitted=("$out"/jitted-*.so)
((${#jitted[@]})) || die "perf inject wrote no jitted-*.so: perf saw no mapping of ${dumps[0]##*/} in the recorded process"

report=(-i "$out/perf.jit.data" --stdio --no-children)
perf report "${report[@]}" --sort "$sort" -g none >"$out/report.txt" 2>"$out/report.log" \
    || die "perf report failed: $(grep -m1 -vE '^\s*$' "$out/report.log")"
cat "$out/report.txt"
if ((callgraph)); then
    perf report "${report[@]}" --sort "$sort" -g caller >"$out/callgraph.txt" 2>>"$out/report.log" \
        || die "perf report (call graph) failed: $(grep -m1 -vE '^\s*$' "$out/report.log")"
fi
if ((srcline)); then
    window=$("$python" -m runner.profiling.window "${dumps[@]}" 2>"$out/window.log") \
        || die "cannot read the time span of the run from ${dumps[0]##*/}: $(cat "$out/window.log")"
    rm -f "$out/window.log"
    perf report "${report[@]}" --sort sym,srcline -g none --time "$window" >"$out/srcline.txt" 2>>"$out/report.log" \
        || die "perf report --sort sym,srcline failed: $(grep -m1 -vE '^\s*$' "$out/report.log")"
    # The same count from the jitdump's own line tables, without addr2line: a cross-check.
    perf script -i "$out/perf.jit.data" --time "$window" -F ip,sym,symoff,dso -G 2>"$out/script.log" \
        | "$python" -m runner.profiling.srcline - "${dumps[@]}" >"$out/srcline-check.txt" \
        || die "could not count samples by source line: $(grep -m1 -vE '^\s*$' "$out/script.log")"
    echo
    echo "# The run's samples ($window) by source line (srcline.txt, first rows):"
    sed -n '/^# Overhead/,$p' "$out/srcline.txt" | grep -v '^$' | head -25
fi
if ((flame)); then
    perf script -i "$out/perf.jit.data" >"$out/perf.script" 2>"$out/script.log" \
        || die "perf script failed: $(grep -m1 -vE '^\s*$' "$out/script.log")"
    maps=("$out"/jit-*.wasm-map.jsonl)     # with -g: inlined Rust functions become frames too
    "$python" -m runner.profiling.flamegraph --title "wasirun $*" ${maps:+--wasm-map "${maps[0]}"} \
        "$out/perf.script" >"$out/flamegraph.svg" \
        || die "could not draw $out/flamegraph.svg from $out/perf.script"
fi

for f in "$out"/{inject,report,script}.log; do [[ -s $f ]] || rm -f "$f"; done

echo
echo "profile.sh: outputs in $out/"
echo "  report.txt      the report above (sort: $sort)"
((callgraph)) && echo "  callgraph.txt   the same with call graphs"
((srcline)) && echo "  srcline.txt     the run's samples by source line: perf report --sort sym,srcline --time $window"
((srcline)) && echo "  srcline-check.txt  the same counted from the jitdump's line tables (wasm code only, no addr2line)"
((flame)) && echo "  flamegraph.svg  flame graph (open in a browser)"
echo "  perf.jit.data   explore: perf report -i $out/perf.jit.data  |  perf annotate -i $out/perf.jit.data"
exit 0
