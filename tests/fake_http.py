"""A local HTTP server in a thread that answers JSON from a fake platform's `handle` function: the
wiring every destination fake (tests/fake_*.py) shares, so each fake holds only its platform's rules."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: (method, path with query, credentials (the Authorization header), body) -> (status, JSON answer; None for no body)
Handle = Callable[[str, str, str, bytes], tuple[int, object]]


def authorization(headers: Message) -> str:
    return headers.get("Authorization", "")


class JsonApiServer:
    def __init__(self, handle: Handle, credentials: Callable[[Message], str] = authorization) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = handle(self.command, self.path, credentials(self.headers), body)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> JsonApiServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
