"""The ASGI entry: request -> dialect -> route -> authenticate -> authorize -> handler.

This is the one place that writes responses and the one place that turns exceptions into
error documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from ..config import Config
from ..core.auth import Keyring
from ..core.errors import RETRY_AFTER, ShoalError, is_storage_full, storage_full_error
from ..core.reader import BlobStream
from ..core.services import Core
from .access import authorize
from .context import Ctx
from .dialect import Dialect
from .endpoints import Endpoint
from .handlers import TABLE
from .handlers.cors import error_cors_headers
from .request import Request
from .response import Response
from .routing import route

log = logging.getLogger("shoal")

Handler = Callable[[Ctx], Awaitable[Response]]
MAX_HEADER_BYTES = 8192  # S3: "The PUT request header is limited to 8 KB in size"
SMALL_BODY = 1 << 20  # streamed bodies up to this size are read whole, then sent at once
ZERO_COPY = "http.response.zerocopysend"  # the ASGI extension for sending files


async def _disconnected(receive: Any) -> None:
    """Return once the client has gone (request body messages still pending are dropped)."""
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return


async def _aclose(body: Any) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def _send_files(send: Any, req: Request, body: BlobStream) -> None:
    """The body's blob files through the server's zero-copy send (ASGI "zerocopysend"):
    the kernel moves the bytes from the page cache to the socket, the event loop copies
    nothing. The files are opened, size-checked and closed in threads."""
    async with _streaming(req, body) as gone, contextlib.aclosing(body.files()) as files:
        async for f, offset, count in files:
            try:
                if gone.done():  # the client left: stop sending
                    return
                await send({"type": ZERO_COPY, "file": f, "offset": offset, "count": count,
                            "more_body": True})
            finally:
                await asyncio.to_thread(f.close)
    await send({"type": "http.response.body", "body": b""})


async def _send_chunks(send: Any, req: Request, body: AsyncIterator[bytes],
                       length: int | None) -> None:
    """A streamed body, chunk by chunk (the last one ends the response when its length is
    known); stops reading the object once the client has gone."""
    left = length
    async with _streaming(req, body) as gone:
        async for chunk in body:
            if gone.done():  # the client left: stop reading the object
                return
            if left is not None:
                left -= len(chunk)
                if left == 0:  # the last chunk ends the response: one message less
                    await send({"type": "http.response.body", "body": chunk})
                    return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def _streaming(req: Request, body: object) -> AsyncIterator[asyncio.Future[None]]:
    """While a response body is sent: a future that is done once the client has gone; a
    failure of the body is logged; the body is closed at the end whatever happened."""
    gone = asyncio.ensure_future(_disconnected(req.receive))
    try:
        yield gone
    except Exception:
        log.exception("request %s: body stream failed", req.request_id)
        raise
    finally:
        gone.cancel()
        await _aclose(body)


async def _collect(req: Request, body: AsyncIterator[bytes]) -> bytes:
    """All of a (small) streamed body."""
    chunks: list[bytes] = []
    try:
        async for chunk in body:
            chunks.append(chunk)
    except Exception:
        log.exception("request %s: body stream failed", req.request_id)
        raise
    finally:
        await _aclose(body)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decode(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


class ShoalApp:
    def __init__(self, core: Core, dialects: list[Dialect], keys: Keyring, config: Config,
                 on_shutdown: Callable[[], None] | None = None,
                 background: Sequence[Callable[[], Awaitable[None]]] = ()) -> None:
        self.core = core
        self.dialects = dialects
        self.keys = keys
        self.config = config
        self.on_shutdown = on_shutdown
        self.background = background  # jobs run as tasks from start-up to shutdown
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        req = self._request(scope, receive)
        dialect = next(d for d in self.dialects if d.matches(req))
        req.request_id = dialect.new_request_id()
        try:
            resp = await self._handle(req, dialect)
        except ShoalError as err:
            resp = self._error(req, dialect, err)
            resp.headers.update(await error_cors_headers(self.core, req))
        except Exception as exc:
            if is_storage_full(exc):
                log.warning("request %s: out of storage space: %s", req.request_id, exc)
                resp = self._error(req, dialect, storage_full_error())
            else:
                log.exception("request %s failed: %s %s", req.request_id, req.method,
                              req.raw_path)
                resp = self._error(req, dialect, ShoalError("InternalError"))
        headers = dialect.base_headers(req)
        headers.update(resp.headers)
        if req.body_withheld:
            headers["Connection"] = "close"
        await self._send(scope, send, req, resp, headers)

    @staticmethod
    def _error(req: Request, dialect: Dialect, err: ShoalError) -> Response:
        resp = dialect.render_error(req, err)
        retry = RETRY_AFTER.get(err.code)
        if retry is not None:
            resp.headers["Retry-After"] = retry
        return resp

    def _request(self, scope: dict[str, Any], receive: Any) -> Request:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            n = name.decode("latin-1").lower()
            v = _decode(value)
            headers[n] = f"{headers[n]},{v}" if n in headers else v
        raw = scope.get("raw_path") or scope["path"].encode()
        raw_path = raw.decode("latin-1")
        if raw_path.startswith(("http://", "https://")):  # absolute-form target via a proxy
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        return Request(
            method=scope["method"], raw_path=raw_path,
            query_string=scope.get("query_string", b"").decode("latin-1"), headers=headers,
            receive=receive, scheme=scope.get("scheme", "http"),
            client_host=(scope.get("client") or ("", 0))[0],
        )

    async def _handle(self, req: Request, dialect: Dialect) -> Response:
        if req.header_bytes > MAX_HEADER_BYTES:
            raise ShoalError("RequestHeaderSectionTooLarge", "Your request header section "
                             "exceeds the maximum allowed size.",
                             MaxSizeAllowed=str(MAX_HEADER_BYTES))
        req.bucket, req.key = dialect.address(req)
        if req.key is not None and len(req.key.encode("utf-8", "surrogatepass")) > \
                dialect.max_key_bytes:
            raise ShoalError("KeyTooLongError", Size=str(len(req.key.encode())),
                             MaxSizeAllowed=str(dialect.max_key_bytes))
        if req.key is not None and "\x00" in req.key:
            raise ShoalError("InvalidArgument", "Object key names cannot contain the NUL "
                             "character.", ArgumentName="key")
        endpoint = route(req.method, req.bucket, req.key, req.args,
                         dialect.h("copy-source") in req.headers)
        if endpoint is Endpoint.CorsPreflight:
            req.body = req.raw_stream()  # a preflight is answered from the CORS rules, unsigned
        else:
            await dialect.authenticate(req, self.keys)
        ctx = Ctx(req, dialect, self.core, self.config, endpoint, self.keys)
        if endpoint is Endpoint.Unsupported:
            raise ShoalError("NotImplemented")
        await authorize(ctx)
        return await TABLE[endpoint](ctx)

    async def _send(self, scope: dict[str, Any], send: Any, req: Request, resp: Response,
                    headers: dict[str, str]) -> None:
        body = resp.body
        if not isinstance(body, bytes) and resp.length is not None and \
                resp.length <= SMALL_BODY and not resp.stream:
            # Read a small body whole first: one message, and no watcher task for a disconnect.
            body = await _collect(req, body)
        if isinstance(body, bytes):
            if not resp.head:
                headers["Content-Length"] = str(len(body))
        elif resp.length is not None:
            headers["Content-Length"] = str(resp.length)
        raw_headers = [(k.encode("latin-1"), v.encode("utf-8")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": raw_headers})
        if isinstance(body, bytes):
            await send({"type": "http.response.body", "body": b"" if resp.head else body})
            return
        if isinstance(body, BlobStream) and ZERO_COPY in (scope.get("extensions") or {}) \
                and body.on_files:
            await _send_files(send, req, body)
            return
        await _send_chunks(send, req, body, resp.length)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._tasks = [asyncio.create_task(job()) for job in self.background]
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                if self.on_shutdown is not None:
                    self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return
