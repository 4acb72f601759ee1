#!/usr/bin/env bash
# Sets up everything the tests need (ffmpeg, PostgreSQL, Redis, an RTSP server, Chromium, Prometheus, footage) and runs
# the whole test suite. Nothing is skipped: DETEKTOR_REQUIRE_TOOLS=1 turns a missing tool into a failure.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
export DETEKTOR_REQUIRE_TOOLS=1
export DETEKTOR_FOOTAGE="$PWD/.cache/footage"
dotnet build Detektor.slnx -c Release -nologo -v quiet
exec dotnet test --solution Detektor.slnx -c Release --no-build "$@"
