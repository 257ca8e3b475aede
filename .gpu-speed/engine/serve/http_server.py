"""HTTP/1.1 for the OpenAI-compatible API: routes, auth, limits, JSON, server-sent events.

    GET  /v1/models, /v1/models/{id}
    POST /v1/completions          {"prompt": ..., "max_tokens": ..., "stream": ...}
    POST /v1/chat/completions     {"messages": [...], ...}   (models with a chat template)
    GET  /health                  (no key needed: load balancers probe it)

Errors come back as OpenAI does them: a status code and
{"error": {"message", "type", "param", "code"}}.

Why asyncio streams from the standard library, not http.server and not an ASGI
stack. http.server gives each connection a thread for its whole life, so 200
idle or half-sent connections are 200 blocked threads, and its only timeout is
one socket timeout. uvicorn + starlette would bring two dependencies and still
no deadline on a client that trickles its headers (its keep-alive timeout only
runs between requests). Here every connection is a coroutine on one event
loop (an idle one costs a few kilobytes, no thread), each phase has its own
deadline (`idle_timeout` before a request starts, `read_timeout` for the rest
of it and for each write), the connection count is bounded, and the only
threads are the decode engine's and a small bounded pool for tokenizing and
chat templates. The HTTP subset an API client needs is small: Content-Length
bodies (chunked request bodies get 411), `Expect: 100-continue`, keep-alive,
and chunked responses for streams. While a request is answered its connection
is watched: a client that closes it (or only its sending side) is taken as
gone, and its sequences leave the decode batch at the next step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import socket
import sys
import threading
from http import HTTPStatus
from typing import Any

from fgtui.engine.serve.completions import CompletionService
from fgtui.engine.serve.requests import RequestError, parse_body

MAX_BODY = 4 << 20
MAX_HEAD = 16 << 10


class _Closed(Exception):
    """The peer went away, or broke a limit after which the connection cannot go on."""


class _Connection:
    """One client socket: a read buffer with deadlines, and writes with one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, read_timeout: float) -> None:
        self.reader, self.writer, self.read_timeout = reader, writer, read_timeout
        self.buffer = bytearray()
        self.eof = False

    async def fill(self, timeout: float | None) -> None:
        data = await asyncio.wait_for(self.reader.read(65536), timeout)
        if not data:
            self.eof = True
            raise _Closed
        self.buffer += data

    async def head(self, idle_timeout: float) -> bytes:
        while not self.buffer:
            await self.fill(idle_timeout)
        deadline = asyncio.get_running_loop().time() + self.read_timeout
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > MAX_HEAD:
                raise RequestError(f"request head over {MAX_HEAD} bytes", status=431)
            await self.fill(max(0.0, deadline - asyncio.get_running_loop().time()))
        if end > MAX_HEAD:
            raise RequestError(f"request head over {MAX_HEAD} bytes", status=431)
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return head

    async def body(self, length: int) -> bytes:
        deadline = asyncio.get_running_loop().time() + self.read_timeout
        while len(self.buffer) < length:
            await self.fill(max(0.0, deadline - asyncio.get_running_loop().time()))
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return body

    async def watch_for_hangup(self) -> None:
        """Returns when the client closes its end (data it pipelines meanwhile is kept)."""
        while len(self.buffer) <= MAX_HEAD + MAX_BODY:
            try:
                await self.fill(None)
            except (_Closed, ConnectionError):
                return
        await asyncio.Event().wait()  # a client flooding us is stopped by the write deadline instead

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), self.read_timeout)
        except (ConnectionError, asyncio.TimeoutError):
            raise _Closed from None


class _Request:
    def __init__(self, method: str, path: str, version: str, headers: dict[str, str]) -> None:
        self.method, self.path, self.version, self.headers = method, path, version, headers

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return "close" not in connection if self.version == "HTTP/1.1" else "keep-alive" in connection


def _parse_head(head: bytes) -> _Request:
    try:
        text = head.decode("latin-1")
        line, *lines = text.split("\r\n")
        method, path, version = line.split(" ")
    except ValueError:
        raise RequestError("malformed request line") from None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise RequestError(f"unsupported protocol {version!r}", status=505)
    headers: dict[str, str] = {}
    for raw in lines:
        name, colon, value = raw.partition(":")
        if not colon or not name or name != name.strip():
            raise RequestError(f"malformed header line {raw[:40]!r}")
        headers[name.lower()] = value.strip()
    return _Request(method, path, version, headers)


class OpenAIServer:
    """The API on one listening socket; `serve_forever` runs it, `shutdown` (from another
    thread) stops it. The socket is bound at construction, so `server_address` holds the
    port that port 0 picked."""

    def __init__(
        self,
        service: CompletionService,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        api_key: str | None = None,
        idle_timeout: float = 15.0,
        read_timeout: float = 30.0,
        max_connections: int = 1024,
        workers: int = 4,
    ) -> None:
        self.service, self.api_key = service, api_key
        self.idle_timeout, self.read_timeout, self.max_connections = idle_timeout, read_timeout, max_connections
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=1024)
        self.server_address = self.socket.getsockname()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fgtui-serve")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._done = threading.Event()
        self._started = threading.Event()
        self.open_connections = 0

    # ------------------------------------------------------------ lifecycle
    def serve_forever(self) -> None:
        self._done.clear()
        try:
            asyncio.run(self._main())
        finally:
            self._done.set()

    def shutdown(self) -> None:
        if self._started.wait(timeout=10) and self._loop is not None and not self._done.is_set():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._done.wait(timeout=30)

    def server_close(self) -> None:
        self.socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.service.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.socket, limit=MAX_HEAD)
        self._started.set()
        async with server:
            await self._stop.wait()
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------ connections
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(reader, writer, self.read_timeout)
        self.open_connections += 1
        try:
            if self.open_connections > self.max_connections:
                await self._send_error(
                    connection,
                    RequestError(
                        f"over {self.max_connections} open connections: retry shortly",
                        status=503,
                        kind="server_error",
                        code="server_busy",
                    ),
                )
                return
            while await self._one_request(connection):
                pass
        except (_Closed, asyncio.TimeoutError, ConnectionError):
            pass
        except Exception as error:  # noqa: BLE001 - a bug must not take the server down with it
            print(f"fgtui serve: {type(error).__name__}: {error}", file=sys.stderr)
        finally:
            self.open_connections -= 1
            writer.close()

    async def _one_request(self, connection: _Connection) -> bool:
        """Read and answer one request; False when the connection should close."""
        try:
            request = _parse_head(await connection.head(self.idle_timeout))
        except RequestError as error:
            await self._send_error(connection, error)
            return False
        try:
            body = await self._read_body(connection, request)
        except RequestError as error:
            await self._send_error(connection, error)
            return False
        try:
            return await self._route(connection, request, body) and request.keep_alive
        except RequestError as error:
            await self._send_error(connection, error, keep_alive=request.keep_alive)
            return request.keep_alive
        except (_Closed, asyncio.TimeoutError, ConnectionError):
            raise
        except Exception as error:  # noqa: BLE001 - a server bug: the client hears it, the server lives
            print(f"fgtui serve: {type(error).__name__}: {error}", file=sys.stderr)
            await self._send_error(
                connection,
                RequestError(f"internal error: {type(error).__name__}: {error}", status=500, kind="server_error"),
            )
            return False

    async def _read_body(self, connection: _Connection, request: _Request) -> bytes:
        if "transfer-encoding" in request.headers:
            raise RequestError("chunked request bodies are not supported: send Content-Length", status=411)
        length_text = request.headers.get("content-length", "0")
        if not length_text.isdigit():
            raise RequestError(f"bad Content-Length {length_text[:20]!r}")
        length = int(length_text)
        if length > MAX_BODY:
            raise RequestError(f"request body over {MAX_BODY} bytes", status=413)
        if not self._authorized(request):
            raise RequestError(
                "a valid API key is needed: send 'Authorization: Bearer KEY'", status=401, code="invalid_api_key"
            )
        if length and request.headers.get("expect", "").lower() == "100-continue":
            await connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await connection.body(length) if length else b""

    def _authorized(self, request: _Request) -> bool:
        if self.api_key is None or request.path == "/health":
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    # ------------------------------------------------------------ routes
    async def _route(self, connection: _Connection, request: _Request, raw: bytes) -> bool:
        path = request.path.split("?", 1)[0].rstrip("/")
        service = self.service
        if path == "/health":
            return await self._send_json(connection, 200, {"status": "ok"}, request.keep_alive)
        if path == "/v1/models" or path.startswith("/v1/models/"):
            if request.method != "GET":
                raise RequestError(f"{request.method} is not allowed on {path}: use GET", status=405)
            if path == "/v1/models":
                return await self._send_json(connection, 200, service.models(), request.keep_alive)
            service.check_model(path[len("/v1/models/") :])
            return await self._send_json(connection, 200, service.model_card(), request.keep_alive)
        if path not in ("/v1/completions", "/v1/chat/completions"):
            raise RequestError(f"no route {request.method} {request.path}", status=404, kind="not_found_error")
        if request.method != "POST":
            raise RequestError(f"{request.method} is not allowed on {path}: use POST", status=405)
        chat = path.endswith("chat/completions")
        body = parse_body(raw)
        job = await asyncio.get_running_loop().run_in_executor(self._pool, lambda: service.prepare(body, chat=chat))
        hangup = asyncio.ensure_future(connection.watch_for_hangup())
        try:
            if job.stream:
                return await self._stream(connection, service.stream(job), hangup, request.keep_alive)
            answer = asyncio.ensure_future(service.answer(job))
            await asyncio.wait({answer, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():  # the client left: its sequences leave the batch
                answer.cancel()
                await asyncio.gather(answer, return_exceptions=True)
                return False
            try:
                result = answer.result()
            except RuntimeError as error:  # the model failed: not the client's doing
                raise RequestError(f"generation failed: {error}", status=500, kind="server_error") from None
            return await self._send_json(connection, 200, result, request.keep_alive)
        finally:
            # Awaited, not only cancelled: its read must be off the stream before the next request reads.
            hangup.cancel()
            await asyncio.gather(hangup, return_exceptions=True)

    async def _stream(self, connection: _Connection, chunks, hangup: asyncio.Future, keep_alive: bool) -> bool:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        await connection.write(head.encode())
        iterator = chunks.__aiter__()
        try:
            while True:
                step = asyncio.ensure_future(iterator.__anext__())
                await asyncio.wait({step, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    await asyncio.gather(step, return_exceptions=True)
                    return False
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    break
                except RuntimeError as error:  # headers are out: the failure travels as an event
                    await self._event(
                        connection,
                        {
                            "error": {
                                "message": f"generation failed: {error}",
                                "type": "server_error",
                                "param": None,
                                "code": None,
                            }
                        },
                    )
                    await connection.write(b"0\r\n\r\n")
                    return False
                await self._event(connection, chunk)
            await self._event(connection, "[DONE]")
            await connection.write(b"0\r\n\r\n")
            return True
        finally:
            await iterator.aclose()

    async def _event(self, connection: _Connection, payload: Any) -> None:
        data = b"data: " + (payload if isinstance(payload, str) else json.dumps(payload)).encode() + b"\n\n"
        await connection.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def _send_json(self, connection: _Connection, status: int, payload: dict, keep_alive: bool) -> bool:
        data = json.dumps(payload).encode()
        reason = HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        )
        if status == 401:
            head += 'WWW-Authenticate: Bearer realm="fgtui"\r\n'
        await connection.write(head.encode() + b"\r\n" + data)
        return keep_alive

    async def _send_error(self, connection: _Connection, error: RequestError, keep_alive: bool = False) -> None:
        try:
            await self._send_json(connection, error.status, error.payload(), keep_alive)
        except _Closed:
            pass


def make_server(service: CompletionService, host: str = "127.0.0.1", port: int = 8000, **options) -> OpenAIServer:
    """A server bound to (host, port); port 0 picks a free one (see `server.server_address`)."""
    return OpenAIServer(service, host, port, **options)
