#!/usr/bin/env bash
# Capture variants side by side (docs/performance.md, "Capture"): each variant is a capture-role process
# (bench/Detektor.CaptureBench) pulling the same RTSP stream at the same time, so the box's noise is common to all of
# them. After a warm-up it counts, over a window, the CPU of each process and of its ffmpeg from
# /proc/<pid>/task/*/schedstat (nanoseconds per thread, where /proc/<pid>/stat counts 10 ms ticks), the frames each
# captured and the voluntary context switches of each process, and prints them per frame.
#
# Run the same pair twice with the order swapped (--swap does): the same variant moved by up to 40 % between runs on
# the reference VM, so a variant is compared only with the control that ran beside it.
#
#   bench/capture-ab.sh [--warmup 90] [--seconds 120] [--swap] [--clip FILE] VARIANT [VARIANT …]
#
# A VARIANT is one argument: words of the form NAME=value are environment variables of that process, "--dll PATH" runs
# another build of Detektor.CaptureBench.dll (another commit, built into a worktree), and any other word is passed to it
# as configuration (--Detektor:Capture:PixelFormat=rgb24, say). "" is the control. Examples:
#
#   bench/capture-ab.sh --swap "" "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0"
#   git worktree add /tmp/before HEAD~1 && dotnet build /tmp/before/bench/Detektor.CaptureBench -c Release
#   bench/capture-ab.sh --swap "--dll /tmp/before/bench/Detektor.CaptureBench/bin/Release/net10.0/Detektor.CaptureBench.dll" ""
#
# A thread that ends inside the window is left out (the thread pool retires workers idle for 20 s): after a warm-up of
# 90 s this was not seen; a shorter warm-up can undercount a process.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
warmup=90 seconds=120 swap=0
clip="${DETEKTOR_FOOTAGE:-$root/.cache/footage}/vtest.mp4"
variants=()
while (($#)); do
  case "$1" in
    --warmup) warmup="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --swap) swap=1; shift ;;
    --clip) clip="$2"; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    "--dll "*) variants+=("$1"); shift ;;
    --*) echo "capture-ab.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) variants+=("$1"); shift ;;
  esac
done
((${#variants[@]} >= 1)) || { echo "capture-ab.sh: give at least one variant (\"\" is the control); see --help" >&2; exit 2; }
[[ -s "$clip" ]] || { echo "no clip at $clip: run scripts/setup.sh" >&2; exit 2; }

dotnet build "$root/bench/Detektor.CaptureBench" -c Release -nologo -v quiet > /dev/null
default_dll="$root/bench/Detektor.CaptureBench/bin/Release/net10.0/Detektor.CaptureBench.dll"
. "$root/bench/rtsp-clip.sh"


serve_clip "$clip" $((warmup + seconds + 5))

# "tid nanoseconds" for every thread of a process; cpu_delta sums per thread between two of them (a thread born in the
# window counts from 0, one that ended in it is left out: see the note at the top).
threads_ns() { local f run; for f in /proc/"$1"/task/*/schedstat; do read -r run _ < "$f" 2>/dev/null && echo "$(basename "$(dirname "$f")") $run"; done; }
cpu_delta() { awk 'NR == FNR {before[$1] = $2; next} {total += $2 - ($1 in before ? before[$1] : 0)} END {printf "%.0f\n", total}' <(echo "$1") <(echo "$2"); }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s + 0}'; }
frames() { grep '^frames ' "$work/b$1.log" | tail -1 | cut -d' ' -f2; }

# One round: every variant at once, in the order given.
round() {
  local order=("$@") bench=() i
  for i in "${!order[@]}"; do
    local envs=() args=() dll="$default_dll" words word next=0
    read -r -a words <<< "${order[$i]}"
    for word in "${words[@]}"; do
      if ((next)); then dll="$word"; next=0
      elif [[ "$word" == --dll ]]; then next=1
      elif [[ "$word" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; then envs+=("$word")
      else args+=("$word"); fi
    done
    env "${envs[@]}" dotnet "$dll" --Detektor:CommandLineCameras:0:Name=bench "--Detektor:CommandLineCameras:0:Url=$url" \
      --Detektor:CommandLineCameras:0:Width=640 --Detektor:CommandLineCameras:0:Height=480 --Detektor:CommandLineCameras:0:Fps=10 \
      "${args[@]}" > "$work/b$i.log" 2>&1 &
    bench+=($!)
    pids+=($!)
  done

  sleep "$warmup"
  local child=() d0=() c0=() v0=() f0=()
  for i in "${!bench[@]}"; do
    child[i]=$(pgrep -P "${bench[i]}" ffmpeg | head -1 || true)
    [[ -n "${child[i]}" ]] || { echo "variant '${order[i]}' has no ffmpeg running:" >&2; tail -5 "$work/b$i.log" >&2; exit 1; }
    d0[i]=$(threads_ns "${bench[i]}"); c0[i]=$(threads_ns "${child[i]}"); v0[i]=$(switches "${bench[i]}"); f0[i]=$(frames "$i")
  done
  sleep "$seconds"
  for i in "${!bench[@]}"; do
    local d c v f
    d=$(cpu_delta "${d0[i]}" "$(threads_ns "${bench[i]}")"); c=$(cpu_delta "${c0[i]}" "$(threads_ns "${child[i]}")"); v=$(($(switches "${bench[i]}") - v0[i])); f=$(($(frames "$i") - f0[i]))
    python3 -c "import sys; d, c, v, f = map(int, sys.argv[1:5]); f = max(f, 1); print(f'| {sys.argv[5] or \"(control)\"} | {f} | {d / 1e6 / f:.3f} | {c / 1e6 / f:.3f} | {(d + c) / 1e6 / f:.3f} | {v / f:.1f} |')" \
      "$d" "$c" "$v" "$f" "${order[i]}"
  done
  for i in "${!bench[@]}"; do kill "${bench[i]}" 2>/dev/null || true; done
  wait "${bench[@]}" 2>/dev/null || true
}

echo "capture 640x480 @ 10 fps from RTSP, side by side; warm-up $warmup s, $seconds s counted; CPU from schedstat"
echo
echo "| variant | frames | capture process ms/frame | its ffmpeg ms/frame | both ms/frame | voluntary switches/frame |"
echo "|---|---|---|---|---|---|"
round "${variants[@]}"
if ((swap)); then
  reversed=()
  for ((i = ${#variants[@]} - 1; i >= 0; i--)); do reversed+=("${variants[i]}"); done
  round "${reversed[@]}"
fi
