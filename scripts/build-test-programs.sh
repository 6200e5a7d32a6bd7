#!/bin/sh
# Build tests/programs/*.rs into tests/programs/build/*.wasm (wasm32-wasi, optimised).
# Only programs whose source is newer than their .wasm are rebuilt.
#
# Debian's rustc (/usr/bin/rustc) has the wasm32-wasi target; a rustup toolchain first
# on PATH may not.  Override with RUSTC=/path/to/rustc.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/tests/programs"
out="$src/build"
rustc="${RUSTC:-/usr/bin/rustc}"

if ! "$rustc" --print target-list 2>/dev/null | grep -qx wasm32-wasi; then
    echo "build-test-programs: $rustc cannot target wasm32-wasi (set RUSTC)" >&2
    exit 1
fi
mkdir -p "$out"
# Compile from the source directory: panic messages then say "panic.rs:N:M", not a
# path that depends on where the checkout lives.
cd "$src"
for rs in *.rs; do
    name=$(basename "$rs" .rs)
    wasm="$out/$name.wasm"
    if [ "$wasm" -nt "$rs" ]; then
        continue
    fi
    echo "building $name.wasm" >&2
    "$rustc" --edition 2021 --target wasm32-wasi -O -C strip=debuginfo "$rs" -o "$wasm.tmp"
    mv "$wasm.tmp" "$wasm"      # never leave a half-written .wasm behind
done
