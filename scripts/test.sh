#!/usr/bin/env bash
# The whole test suite: builds what the tests need (Debian's rustc is installed with
# apt-get when missing), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-examples.sh
if [[ -x scripts/build-test-programs.sh ]]; then
    scripts/build-test-programs.sh
fi
# The tests start hundreds of wasirun processes: with PYTHONDONTWRITEBYTECODE=1 (CI, sandboxes)
# Python never writes .pyc files and each would compile every module from source first.
python3 -m compileall -q runner wasi >/dev/null
exec python3 -m pytest -q "$@"
