#!/usr/bin/python3
"""Tiny RTSP server for Detektor's tests (Debian gst-rtsp-server through python3-gi), loopback only.

  rtsp-server.py --port 8554 [--path /stream] [--file clip.mp4 | --test [--width W --height H --fps F]]
                 [--user U --password P]

Serves H.264: from an MP4 file (demuxed, not re-encoded) or from a live test pattern (x264). Prints "READY <url>" on
stdout once it listens; runs until killed (SIGTERM/SIGINT).
"""
import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/stream")
    p.add_argument("--file")
    p.add_argument("--test", action="store_true")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    Gst.init(None)
    if a.file:
        launch = (f'( filesrc location="{a.file}" ! qtdemux ! h264parse config-interval=-1 '
                  f'! rtph264pay name=pay0 pt=96 config-interval=1 )')
    else:
        launch = (f"( videotestsrc is-live=true pattern=ball "
                  f"! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
                  f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps} "
                  f"! rtph264pay name=pay0 pt=96 config-interval=1 )")

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)

    if a.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password or ""), token)
        server.set_auth(auth)
        factory.add_role_from_structure(Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))

    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print(f"FAILED to listen on 127.0.0.1:{a.port}", file=sys.stderr, flush=True)
        sys.exit(3)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{a.port}{a.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
