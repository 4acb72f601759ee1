#!/usr/bin/env bash
# Sets up everything the tests need (ffmpeg, PostgreSQL, Redis, an RTSP server, Chromium, Prometheus, footage) and runs
# the whole test suite. Nothing is skipped: DETEKTOR_REQUIRE_TOOLS=1 turns a missing tool into a failure.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
export DETEKTOR_REQUIRE_TOOLS=1
export DETEKTOR_FOOTAGE="$PWD/.cache/footage"
dotnet build Detektor.slnx -c Release -nologo -v quiet
# The run's output is long; when it fails, the failed tests are repeated at the very end so that the tail of a CI log
# names them.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
dotnet test --solution Detektor.slnx -c Release --no-build --max-parallel-test-modules 1 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    echo
    echo "=== failed tests (repeated from above; exit code $rc) ==="
    grep -E -A 14 '^[[:space:]]*failed [^:w]' "$log" | grep -v -E '^[[:space:]]+at (System|Xunit|Microsoft)\.' | head -n 400 || true
fi
exit "$rc"
