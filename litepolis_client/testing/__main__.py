"""Run a LitePolis stand-in from the shell, to try the client or the command line.

    python -m litepolis_client.testing --key-file ./litepolis-key

It starts the stand-in on an ephemeral 127.0.0.1 port, seeds one user,
writes that user's key to the key file (mode 0600), prints the server's
URL on the first line of stdout, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, Optional, Sequence

from litepolis_client._keyfile import KeyFile
from litepolis_client.testing import ROLES, StandInServer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m litepolis_client.testing",
        description="Serve a LitePolis stand-in on 127.0.0.1 with one seeded user until interrupted.",
    )
    parser.add_argument("--key-file", required=True, help="file to write the seeded user's API key to")
    parser.add_argument("--email", default="ada@example.org", help="email of the seeded user")
    parser.add_argument("--role", default="user", choices=ROLES, help="role of the seeded user (default: user)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def request_stop(signal_number: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    with StandInServer() as server:
        user = server.add_user(args.email, role=args.role)
        try:
            # The command line's writer: mode 0600, replaced atomically.
            KeyFile(args.key_file).replace(user.key)
        except OSError as exc:
            print(f"cannot write the key file {args.key_file}: {exc.strerror}", file=sys.stderr)
            return 2

        print(server.url, flush=True)
        print(
            f"LitePolis stand-in at {server.url}; the key of {user.email} (role {user.role}) "
            f"is in {args.key_file}. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
