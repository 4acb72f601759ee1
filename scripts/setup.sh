#!/usr/bin/env bash
# Installs what Detektor needs on a fresh Debian 12 machine that has the .NET SDK. Idempotent, non-interactive.
#   scripts/setup.sh run    what `detektor run` needs: ffmpeg, the demo footage
#   scripts/setup.sh test   plus the servers and browsers the tests start: PostgreSQL, Redis, gst-rtsp-server, Chromium, Prometheus
set -euo pipefail
profile="${1:-run}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache"
mkdir -p "$cache"

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

run_packages=(ffmpeg ca-certificates)
test_packages=(
  postgresql-15 postgresql-client-15
  redis-server redis-tools
  gstreamer1.0-rtsp libgstrtspserver-1.0-0 gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  chromium
  prometheus prometheus-alertmanager
  procps psmisc
  systemd
)
packages=("${run_packages[@]}")
if [[ "$profile" == "test" ]]; then packages+=("${test_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Servers the tests start themselves must not also be running as system services (port clashes, stale state).
if [[ "$profile" == "test" ]]; then
  for svc in redis-server postgresql prometheus prometheus-alertmanager; do
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# Demo footage: Debian's opencv-doc ships vtest.avi (people walking, a car, a van) and still images.
footage="$cache/footage"
if [[ ! -s "$footage/vtest.mp4" || ! -s "$footage/messi5.jpg" ]]; then
  echo "setup: fetching demo footage (Debian opencv-doc)"
  tmp="$(mktemp -d)"
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1 || { $sudo apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg-deb -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  data="$tmp/x/usr/share/doc/opencv-doc/examples/data"
  mkdir -p "$footage"
  for f in vtest.avi messi5.jpg basketball1.png basketball2.png; do
    if [[ -f "$data/$f" ]]; then cp "$data/$f" "$footage/"; elif [[ -f "$data/$f.gz" ]]; then gunzip -c "$data/$f.gz" > "$footage/$f"; fi
  done
  # H.264 in MP4 so it can be served over RTSP and read at native rate.
  ffmpeg -hide_banner -loglevel error -y -i "$footage/vtest.avi" -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 20 -an "$footage/vtest.mp4"
  rm -rf "$tmp"
fi
echo "setup: ready ($profile)"
