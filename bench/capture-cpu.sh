#!/usr/bin/env bash
# Capture cost against the physical limit (docs/performance.md, "Capture").
#
# Serves an H.264 clip over RTSP on loopback (Debian gst-rtsp-server, tests/Detektor.Testing/rtsp-server.py), then runs,
# side by side and pulling the same URL:
#   A. `detektor run --camera bench=URL` (all roles: capture, processing, SQLite store, API), and
#   B. bare `ffmpeg` with the same input and output options detektor's ffmpeg gets (same size, rate and pixel format on a
#      pipe; the pipe is drained by `cat`, which is not counted).
# After a warm-up it samples utime+stime from /proc/<pid>/stat of detektor + its ffmpeg child, and of the bare ffmpeg and
# its `cat`, for a fixed time, and prints CPU seconds of each and two ratios (goal: <= 1.10): A ÷ (ffmpeg + cat) — both
# sides decode and hand every frame's bytes to a process that reads them, which is what capture is — and A ÷ ffmpeg alone.
# The warm-up defaults to 90 s: the runtime's tiered JIT recompiles hot code with profile data for about the first 75 s
# (DOTNET_JitStdOutFile with DOTNET_JitDisasmSummary=1 shows the last methods compiled: 2,386 at 60 s, 2,412 from 75 s
# on, 2026-11-24), and that is start-up, not what a frame costs. Measured from 60 s, the window still held those
# compilations: 0.67 ms per frame, against 0.52 from 90 s. The clip is
# looped (stream copy, into the work folder) when warm-up + measurement are longer than it.
#
# With --capture-only, A is bench/Detektor.CaptureBench instead: the capture role alone (camera worker, in-process bus, a
# consumer that releases every frame) — what capture itself costs, without processing, storage and API.
#
# --pix-fmt picks Detektor:Capture:PixelFormat for both sides: yuv420p (the default since ADR 0008) or rgb24.
#
#   bench/capture-cpu.sh [--capture-only] [--seconds 30] [--warmup 90] [--width 640] [--height 480] [--fps 10] [--pix-fmt yuv420p] [--clip FILE] [-- extra args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds=30 warmup=90 width=640 height=480 fps=10 capture_only=0 pix_fmt=yuv420p
clip="${DETEKTOR_FOOTAGE:-$root/.cache/footage}/vtest.mp4"
extra=()
while (($#)); do
  case "$1" in
    --capture-only) capture_only=1; shift ;;
    --seconds) seconds="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --width) width="$2"; shift 2 ;;
    --height) height="$2"; shift 2 ;;
    --fps) fps="$2"; shift 2 ;;
    --pix-fmt) pix_fmt="$2"; shift 2 ;;
    --clip) clip="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -s "$clip" ]] || { echo "no clip at $clip: run scripts/setup.sh" >&2; exit 2; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
tck=$(getconf CLK_TCK)
frames() {
  if ((capture_only)); then grep '^frames ' "$work/detektor.log" | tail -1 | cut -d' ' -f2
  else curl -s "http://127.0.0.1:$api_port/api/v1/cameras/bench" | python3 -c 'import json,sys; print(json.load(sys.stdin)["frames_captured"])'; fi
}

dotnet build "$root/src/Detektor" -c Release -nologo -v quiet >/dev/null
dotnet build "$root/bench/Detektor.CaptureBench" -c Release -nologo -v quiet >/dev/null
dll="$root/src/Detektor/bin/Release/net10.0/detektor.dll"
bench_dll="$root/bench/Detektor.CaptureBench/bin/Release/net10.0/Detektor.CaptureBench.dll"
. "$root/bench/rtsp-clip.sh"


serve_clip "$clip" $((warmup + seconds + 5))

api_port=$(free_port)
if ((capture_only)); then
  what="the capture role alone (bench/Detektor.CaptureBench)"
  dotnet "$bench_dll" --Detektor:CommandLineCameras:0:Name=bench "--Detektor:CommandLineCameras:0:Url=$url" \
    "--Detektor:CommandLineCameras:0:Width=$width" "--Detektor:CommandLineCameras:0:Height=$height" \
    "--Detektor:CommandLineCameras:0:Fps=$fps" "--Detektor:Capture:PixelFormat=$pix_fmt" "${extra[@]}" > "$work/detektor.log" 2>&1 &
else
  what="detektor run (all roles)"
  dotnet "$dll" run --urls "http://127.0.0.1:$api_port" --data-dir "$work/data" --camera "bench=$url" \
    --set "Detektor:Hosting:JsonLogs=false" \
    --set "Detektor:CommandLineCameras:0:Width=$width" --set "Detektor:CommandLineCameras:0:Height=$height" \
    --set "Detektor:CommandLineCameras:0:Fps=$fps" --set "Detektor:Capture:PixelFormat=$pix_fmt" "${extra[@]}" > "$work/detektor.log" 2>&1 &
fi
detektor=$!
pids+=($detektor)

# The same command line detektor's FfmpegArguments builds for an RTSP camera (checked against the running child below).
# Its stdout is a FIFO that `cat` drains, so that both PIDs are known exactly. (Until 2026-11-24 the bare ffmpeg was
# found with `pgrep -n`, which could pick detektor's own ffmpeg, started a moment later: then "bare" was detektor's child
# measured twice — the identical CPU seconds of both in every earlier run give it away.)
mkfifo "$work/bare.fifo"
cat "$work/bare.fifo" > /dev/null &
reader=$!
pids+=($reader)
ffmpeg -hide_banner -nostdin -nostats -loglevel warning -rtsp_transport tcp -timeout 15000000 -i "$url" \
  -map 0:v:0 -an -sn -dn -vf "fps=$fps,scale=$width:$height" -pix_fmt "$pix_fmt" -f rawvideo -avioflags direct pipe:1 2> "$work/bare.log" > "$work/bare.fifo" &
bare=$!
pids+=($bare)

sleep "$warmup"
child=$(pgrep -P "$detektor" ffmpeg | head -1 || true)
[[ -n "$child" && -n "$bare" && "$child" != "$bare" ]] || { echo "detektor's ffmpeg or the bare ffmpeg is not running" >&2; tail -20 "$work/detektor.log" >&2; exit 1; }
[[ "$(cat "/proc/$bare/comm")" == ffmpeg ]] || { echo "the bare ffmpeg (pid $bare) is not ffmpeg" >&2; exit 1; }
diff <(tr '\0' ' ' < "/proc/$child/cmdline" | sed 's/ *$//') <(tr '\0' ' ' < "/proc/$bare/cmdline" | sed 's/ *$//') > /dev/null \
  || { echo "note: command lines differ:"; tr '\0' ' ' < "/proc/$child/cmdline"; echo; tr '\0' ' ' < "/proc/$bare/cmdline"; echo; }

d0=$(cpu_ticks "$detektor"); c0=$(cpu_ticks "$child"); b0=$(cpu_ticks "$bare"); r0=$(cpu_ticks "$reader")
frames0=$(frames)
sleep "$seconds"
d1=$(cpu_ticks "$detektor"); c1=$(cpu_ticks "$child"); b1=$(cpu_ticks "$bare"); r1=$(cpu_ticks "$reader")
frames1=$(frames)
[[ "$(pgrep -P "$detektor" ffmpeg | head -1)" == "$child" ]] || echo "warning: detektor's ffmpeg was restarted during the measurement"

echo "A = $what; pixel format $pix_fmt"
python3 - "$tck" "$seconds" "$d0" "$d1" "$c0" "$c1" "$b0" "$b1" "$r0" "$r1" "$frames0" "$frames1" "$width" "$height" "$fps" <<'PY'
import sys
tck, secs, d0, d1, c0, c1, b0, b1, r0, r1, f0, f1, w, h, fps = map(float, sys.argv[1:])
dotnet = (d1 - d0) / tck
child = (c1 - c0) / tck
bare = (b1 - b0) / tck
frames = f1 - f0
print(f"capture {w:.0f}x{h:.0f} @ {fps:g} fps from RTSP, {secs:.0f} s measured, {frames:.0f} frames through detektor")
print(f"  detektor process       {dotnet:6.2f} CPU s  ({1000 * dotnet / max(frames, 1):.2f} ms/frame)")
print(f"  detektor's ffmpeg      {child:6.2f} CPU s")
print(f"  detektor total (A)     {dotnet + child:6.2f} CPU s")
reader = (r1 - r0) / tck
a = dotnet + child
print(f"  bare ffmpeg (B)        {bare:6.2f} CPU s")
print(f"  its cat (reads pipe)   {reader:6.2f} CPU s")
print(f"  ratio A/(B+cat)        {a / (bare + reader) if bare + reader else float('nan'):6.3f}   (goal <= 1.10)")
print(f"  ratio A/B              {a / bare if bare else float('nan'):6.3f}   (ffmpeg alone, its frames read by nobody counted)")
PY
