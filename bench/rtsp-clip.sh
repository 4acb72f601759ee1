# Sourced by bench/capture-cpu.sh and bench/capture-ab.sh (not run on its own): a work folder removed at exit together
# with the processes listed in pids, and a footage clip served over RTSP on loopback by gst-rtsp-server
# (tests/Detektor.Testing/rtsp-server.py). Needs $root (the repository).
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve_clip CLIP SECONDS: serves CLIP, looped first (stream copy, into the work folder) when it is shorter than SECONDS
# (the server plays it once per client); sets url to its rtsp:// address.
serve_clip() {
  local clip="$1" need="$2" clip_seconds port
  clip_seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$clip" | cut -d. -f1)
  if ((need > clip_seconds)); then
    ffmpeg -v error -y -stream_loop $((need / clip_seconds)) -i "$clip" -c copy "$work/clip.mp4"
    clip="$work/clip.mp4"
  fi

  port=$(free_port)
  /usr/bin/python3 "$root/tests/Detektor.Testing/rtsp-server.py" --port "$port" --file "$clip" > "$work/rtsp.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do grep -q READY "$work/rtsp.log" && break; sleep 0.1; done
  url="rtsp://127.0.0.1:$port/stream"
}
