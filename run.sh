#!/usr/bin/env bash
# Sets up and runs Detektor all-in-one with embedded defaults (in-process bus, SQLite under ./data, the demo camera).
# Any arguments go to `detektor run` (see `./run.sh --help`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh run
dotnet build src/Detektor -c Release -v quiet -nologo
exec dotnet src/Detektor/bin/Release/net10.0/detektor.dll run \
  --set "Detektor:Capture:DemoUrl=file://$PWD/.cache/footage/vtest.mp4" "$@"
