"""HTTP for the OpenAI-compatible API (standard library only): routes, JSON, server-sent events.

    GET  /v1/models
    POST /v1/completions          {"prompt": ..., "max_tokens": ..., "stream": ...}
    POST /v1/chat/completions     {"messages": [...], ...}   (models with a chat template)

Errors come back as OpenAI does them: a status code and
{"error": {"message": ..., "type": ...}}.
"""
from __future__ import annotations

import json
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from fgtui.engine.serve.completions import CompletionService, RequestError, parse_sampling

MAX_BODY = 4 << 20


def make_server(service: CompletionService, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server bound to (host, port); port 0 picks a free one (see `server.server_address`)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/v1/models":
                self._json(HTTPStatus.OK, service.models())
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no route GET {self.path}", "not_found_error")

        def do_POST(self) -> None:  # noqa: N802
            route = self.path.rstrip("/")
            if route not in ("/v1/completions", "/v1/chat/completions"):
                self._error(HTTPStatus.NOT_FOUND, f"no route POST {self.path}", "not_found_error")
                return
            chat = route.endswith("chat/completions")
            streaming = False
            try:
                body = self._body()
                prompt = service.chat_prompt(body) if chat else service.completion_prompt(body)
                sampling = parse_sampling(body, service.default_max_tokens)
                prompt_ids = service.encode(prompt, sampling)  # may refuse: before any header goes out
                if body.get("stream"):
                    streaming = True
                    self._events(service.stream(prompt_ids, sampling, chat=chat))
                else:
                    self._json(HTTPStatus.OK, service.complete(prompt_ids, sampling, chat=chat))
            except RequestError as error:
                self._error(HTTPStatus.BAD_REQUEST, str(error), "invalid_request_error")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client left mid-answer
            except Exception as error:  # noqa: BLE001 - the client gets a reason, the server lives on
                message = f"{type(error).__name__}: {error}"
                self.log_error("generation failed: %s", message)
                if streaming:  # headers are out: say it as an event, then end the stream
                    self._event({"error": {"message": message, "type": "server_error", "code": None}})
                    self.close_connection = True
                else:
                    self._error(HTTPStatus.INTERNAL_SERVER_ERROR, message, "server_error")

        # -------------------------------------------------------------- plumbing
        def _body(self) -> dict:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                raise RequestError("bad Content-Length")
            if length > MAX_BODY:
                raise RequestError(f"request body over {MAX_BODY} bytes")
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except ValueError as error:
                raise RequestError(f"the body is not JSON: {error}") from None
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            return body

        def _json(self, status: HTTPStatus, payload: dict, close: bool = False) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:
                self.send_header("Connection", "close")  # also sets close_connection
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: HTTPStatus, message: str, kind: str) -> None:
            # The body may be unread (a 404, a refused length): this connection cannot carry
            # another request after it, so it closes, and says so.
            self._json(status, {"error": {"message": message, "type": kind, "code": None}}, close=True)

        def _event(self, payload: dict | str) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload)
            self.wfile.write(b"data: " + data.encode() + b"\n\n")
            self.wfile.flush()

        def _events(self, chunks) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for chunk in chunks:
                self._event(chunk)
            self._event("[DONE]")

    return ThreadingHTTPServer((host, port), Handler)
