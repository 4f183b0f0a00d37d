"""Stands in for every IKO service in the stack tests: ``fake_service.py -m <module> [args]``.

- ``iko_sandbox <src> --port N`` listens on N and closes every connection;
- ``iko_gateway`` serves ``GET /readyz`` on ``IKO_GATEWAY_PORT`` (200, or 503 with FAKE_NEVER_READY=1);
- ``iko_audit provision`` prints what it would provision and exits with FAKE_PROVISION_EXIT (default 0), or
  sleeps FAKE_PROVISION_SLEEP seconds first;
- anything else sleeps. FAKE_EXIT=<module> makes that module exit 3 at once; FAKE_IGNORE_TERM=<module>
  makes it ignore SIGTERM.

Each writes one line to stderr naming its module and namespace, so tests can read the logs.
"""

from __future__ import annotations

import http.server
import os
import signal
import socket
import sys
import time


class _Readyz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ready = os.environ.get("FAKE_NEVER_READY") != "1"
        code = 200 if self.path == "/readyz" and ready else 503
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "-m":
        print(f"usage: fake_service.py -m MODULE [args], got {argv}", file=sys.stderr)
        return 2
    module, args = argv[1], argv[2:]
    print(f"fake {module} {' '.join(args)} namespace={os.environ.get('IKO_NAMESPACE')}", file=sys.stderr)
    if module == "iko_audit" and args == ["provision"]:
        time.sleep(float(os.environ.get("FAKE_PROVISION_SLEEP") or 0))
        code = int(os.environ.get("FAKE_PROVISION_EXIT") or 0)
        admin = os.environ.get("IKO_AUDIT_ADMIN_URL", "default")
        print(
            f"fake provision: database for {os.environ.get('IKO_NAMESPACE')} at {admin}, exit {code}", file=sys.stderr
        )
        return code
    if os.environ.get("FAKE_EXIT") == module:
        print(f"fake {module}: exiting on purpose", file=sys.stderr)
        return 3
    if os.environ.get("FAKE_IGNORE_TERM") == module:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if module == "iko_sandbox":
        port = int(args[args.index("--port") + 1])
        srv = socket.create_server(("127.0.0.1", port))
        while True:
            conn, _ = srv.accept()
            conn.close()
    if module == "iko_gateway":
        port = int(os.environ["IKO_GATEWAY_PORT"])
        http.server.HTTPServer(("127.0.0.1", port), _Readyz).serve_forever()
        return 0
    while True:
        time.sleep(60)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
