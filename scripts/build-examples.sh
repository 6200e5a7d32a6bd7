#!/usr/bin/env bash
# Build the example programs in examples/ with Debian's rustc (see examples/README.md).
#
#   scripts/build-examples.sh [--native] [--force]
#
#   examples/fib.wasm     -O, no debug info (committed; this rebuilds it byte-identically)
#   examples/fib-g.wasm   -g -O, with DWARF (not committed)
#   examples/fib-native   -O, native x86-64, only with --native (for benchmarks)
#
# Installs rustc, the wasm32-wasi std and lld with apt-get when they are missing.
# Outputs newer than their source are left alone unless --force is given.
set -euo pipefail

RUSTC=/usr/bin/rustc   # not rustup's rustc first on PATH: it lacks the wasm32-wasi target
WASI_STD=/usr/lib/rustlib/wasm32-wasi/lib

native=0 force=0
for arg in "$@"; do
    case "$arg" in
        --native) native=1 ;;
        --force) force=1 ;;
        -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "build-examples.sh: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

if [[ ! -x $RUSTC || ! -d $WASI_STD ]]; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    echo "installing rustc, libstd-rust-dev-wasm32 and lld with apt-get" >&2
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        rustc libstd-rust-dev-wasm32 lld >/dev/null
fi

# Build from inside examples/ so DWARF records the source as "fib.rs" under comp_dir examples/.
cd "$(dirname "$0")/../examples"

# build OUTPUT SOURCE RUSTC-ARGS...: run rustc unless OUTPUT is newer than SOURCE.
build() {
    local out=$1 src=$2
    shift 2
    if [[ $force -eq 0 && $out -nt $src ]]; then
        return
    fi
    echo "rustc $* $src -o $out" >&2
    "$RUSTC" "$@" "$src" -o "$out"
}

build fib.wasm fib.rs --target wasm32-wasi -O -C strip=debuginfo
build fib-g.wasm fib.rs --target wasm32-wasi -g -O
if [[ $native -eq 1 ]]; then
    build fib-native fib.rs -O
fi
