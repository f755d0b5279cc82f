#!/usr/bin/env python3
"""Runs moto's server app (the one `moto_server` runs) on a loopback port without a race.

`moto_server -p PORT` needs a port chosen in advance, which another process can take between the
choice and the bind. This binds port 0 itself (or the given one) and prints `READY <port>` on
stdout once moto accepts connections, like emulator.py.

    python run_moto.py [--host 127.0.0.1] [--port 0] [--exit-with-parent]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=0)
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="exit when the process that started this one goes away",
    )
    args = parser.parse_args(argv)

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)  # what `moto_server -p` sets; moto reads it for some URLs

    stopping = threading.Event()

    def stop(signum, frame):  # noqa: ARG001
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    parent = os.getppid()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"READY {port}", flush=True)
    while not stopping.wait(0.5):
        if args.exit_with_parent and os.getppid() != parent:
            break
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
