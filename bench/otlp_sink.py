"""A local trace collector for the tracing-on measurement: an OTLP/HTTP endpoint that takes every export and
answers it as a collector does, without keeping or decoding it (``python -m bench.otlp_sink --port P``).

Its own process, so that what it costs is neither the system's CPU nor the load generator's."""

from __future__ import annotations

import argparse
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.processes import mark_ready


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    exports = 0
    received_bytes = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Sink.received_bytes += len(self.rfile.read(length))
        Sink.exports += 1
        # An empty ExportTraceServiceResponse is zero bytes of protobuf: a full success.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.otlp_sink")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ready-file", type=Path, required=True)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Sink)

    def stop(_signum: int, _frame: object) -> None:
        # What it took in, in its log: proof that the stack exported while it was measured.
        print(f"otlp-sink: {Sink.exports} exports, {Sink.received_bytes} bytes", flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    mark_ready(args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
