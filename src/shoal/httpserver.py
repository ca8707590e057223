"""uvicorn's httptools protocol, hardened for Shoal.

Response header names are written in canonical case. uvicorn (like granian and hyper)
lower-cases them. HTTP says names are case-insensitive, but cos-python-sdk-v5 and coscmd copy
the headers into a plain dict and read ``Content-Length``, ``ETag`` and ``Last-Modified`` by
exact name. The protocol restores the case of well-known names in the header block of each
response and changes nothing else: bodies go to the socket untouched.

It also bounds what a client can hold, which uvicorn + httptools do not (see
docs/http-server-choice.md):

* the request head (request line and headers) is capped at ``SHOAL_MAX_HEAD_BYTES`` bytes
  (default 32 KiB; the app itself answers headers over 8 KiB with a dialect error): beyond
  it the answer is 400 ``RequestHeaderSectionTooLarge`` and the connection closes, before the
  parser has buffered more;
* the head must be complete ``SHOAL_HEADER_TIMEOUT`` seconds (default 30) after its first byte
  (or after the connection opened): a slowloris client gets 400 ``RequestTimeout``, an idle
  new connection is closed;
* a request body that makes no progress for ``SHOAL_BODY_TIMEOUT`` seconds (default 60, not
  counting time the app itself is not reading) closes the connection; the app sees a
  disconnect and throws the partial upload away.

And it offers the ASGI extension ``http.response.zerocopysend`` (on plain TCP, not TLS), which
the app uses for object bodies kept in files: once the header block has left the transport's
buffer, ``os.sendfile`` moves the file range to the socket from a worker thread (no copy in user
space, the event loop free). The thread sends on a duplicate of the socket's descriptor, so a
connection closed meanwhile can never let the bytes reach another connection that reused the
number; it stops when the connection is lost or the client takes nothing for
``SHOAL_BODY_TIMEOUT`` seconds (the connection is then closed).

Request bodies reach the app uncopied: uvicorn appends every piece the socket delivers to a
bytearray and hands the app ``bytes()`` of it (two copies on the event loop), and stops reading
the socket at 64 KiB, so a large upload costs a pause, a resume and a loop turn per 64 KiB.
Here the pieces are kept as they arrived, up to ``BODY_HIGH_WATER`` bytes a request before the
socket is paused, and the app gets them as a list under the ASGI message key ``BODY_PIECES``
(the scope's extensions name it; ``body`` is then empty).
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

ZERO_COPY = "http.response.zerocopysend"  # the ASGI extension for sending files
BODY_PIECES = "shoal.body_pieces"  # the extension (and message key) for uncopied bodies
BODY_HIGH_WATER = 1 << 20  # request body bytes held for the app before reading pauses
COPY_CHUNK = 1 << 20  # file bytes per message where a file cannot be sent as it is

CANONICAL = {
    name.lower().encode(): name.encode()
    for name in (
        "Accept-Ranges", "Cache-Control", "Connection", "Content-Disposition",
        "Content-Encoding", "Content-Language", "Content-Length", "Content-MD5",
        "Content-Range", "Content-Type", "Date", "ETag", "Expires", "Last-Modified",
        "Location", "Retry-After", "Server", "Transfer-Encoding", "Vary",
        "Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers", "Access-Control-Expose-Headers",
        "Access-Control-Max-Age", "Access-Control-Allow-Credentials",
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Limits:
    max_head_bytes: int = 32 * 1024
    header_timeout: float = 30.0
    body_timeout: float = 60.0


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


@cache
def limits() -> Limits:
    """The limits from ``SHOAL_MAX_HEAD_BYTES``, ``SHOAL_HEADER_TIMEOUT``, ``SHOAL_BODY_TIMEOUT``."""
    d = Limits()
    return Limits(int(_env_number("SHOAL_MAX_HEAD_BYTES", d.max_head_bytes)),
                  _env_number("SHOAL_HEADER_TIMEOUT", d.header_timeout),
                  _env_number("SHOAL_BODY_TIMEOUT", d.body_timeout))


class Refusal(Exception):
    """A request the protocol answers itself (the app never sees it)."""

    def __init__(self, code: str, message: str, **fields: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.fields = fields


async def _send_copied(inner: Any, message: dict[str, Any], count: int, offset: int) -> None:
    """A ``zerocopysend`` message as ordinary body messages (chunked framing, HEAD)."""
    fd, more = message["file"].fileno(), bool(message.get("more_body", False))
    end = offset + count
    while offset < end:
        data = await asyncio.to_thread(os.pread, fd, min(COPY_CHUNK, end - offset), offset)
        if not data:
            raise OSError("Object data is truncated")
        offset += len(data)
        await inner({"type": "http.response.body", "body": data,
                     "more_body": more or offset < end})
    if not count and not more:
        await inner({"type": "http.response.body", "body": b""})


def _xml_escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def refusal_response(refusal: Refusal) -> bytes:
    """A complete 400 response with an S3-shaped error document; the connection then closes."""
    extra = "".join(f"<{k}>{_xml_escape(v)}</{k}>" for k, v in refusal.fields.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
            f"<Message>{_xml_escape(refusal.message)}</Message>{extra}</Error>").encode()
    head = (f"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return head + body


def head_too_large(limit: int) -> Refusal:
    return Refusal("RequestHeaderSectionTooLarge", "Your request header section exceeds the "
                   "maximum allowed size.", MaxSizeAllowed=str(limit))


def recase_header_block(block: bytes) -> bytes:
    """Rewrite ``name:`` of each known header line of a status+headers block."""
    lines = block.split(b"\r\n")
    for i in range(1, len(lines)):
        name, sep, rest = lines[i].partition(b":")
        if sep:
            canonical = CANONICAL.get(name)
            if canonical is not None:
                lines[i] = canonical + sep + rest
    return b"\r\n".join(lines)


class _HeaderCaseTransport:
    """Forwards everything to the real transport; the write right after a response start is
    the header block and gets its names re-cased."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.expect_headers = False

    def write(self, data: bytes) -> None:
        if self.expect_headers:
            self.expect_headers = False
            data = recase_header_block(data)
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def sendfile_all(sock_fd: int, file_fd: int, offset: int, count: int,
                 stop: threading.Event, stall: float) -> int:
    """Send ``count`` file bytes from ``offset`` to a non-blocking socket (in a worker thread)
    and close ``sock_fd``; the bytes sent. Stops short at the end of the file, on a socket
    error, once ``stop`` is set, or when the socket takes nothing for ``stall`` seconds."""
    sent, progress = 0, time.monotonic()
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    try:
        while sent < count and not stop.is_set():
            try:
                n = os.sendfile(sock_fd, file_fd, offset + sent, count - sent)
            except BlockingIOError:
                poller.poll(250)
                if time.monotonic() - progress > stall:
                    break
                continue
            except OSError:
                break  # the client went away
            if n == 0:  # end of file: the blob is shorter than the metadata says
                break
            sent, progress = sent + n, time.monotonic()
    finally:
        os.close(sock_fd)
    return sent


HEAD, BODY, APP = "head", "body", "app"  # what the connection is waiting for


class _Pieces:
    """Stands in for uvicorn's body bytearray in a request cycle: ``+=`` keeps the piece."""

    __slots__ = ("items", "size")

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.size = 0

    def __iadd__(self, piece: bytes) -> _Pieces:
        self.items.append(piece)
        self.size += len(piece)
        return self

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return b"".join(self.items)


def _receive_pieces(cycle: RequestResponseCycle) -> Any:
    """uvicorn's ``RequestResponseCycle.receive``, handing over the pieces as they are."""

    async def receive() -> dict[str, Any]:
        if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
            cycle.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            cycle.waiting_for_100_continue = False
        if not cycle.disconnected and not cycle.response_complete:
            cycle.flow.resume_reading()
            await cycle.message_event.wait()
            cycle.message_event.clear()
        if cycle.disconnected or cycle.response_complete:
            return {"type": "http.disconnect"}
        pieces = cycle.body.items  # type: ignore[attr-defined]
        cycle.body = _Pieces()  # type: ignore[assignment]
        return {"type": "http.request", "body": b"", BODY_PIECES: pieces,
                "more_body": cycle.more_body}

    return receive


class CanonicalHeaderProtocol(HttpToolsProtocol):
    """The httptools protocol with canonical header names, a head size cap and timeouts."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._limits = limits()
        self._phase = APP
        self._head_bytes = 0
        self._head_began = False  # a byte of the awaited head has arrived
        self._refusal: Refusal | None = None
        self._deferred = False  # the refusal waits for the response in flight
        self._watch: asyncio.TimerHandle | None = None
        self._deadline = 0.0  # HEAD: when the head must be complete
        self._last_rx = 0.0  # BODY: when body bytes last arrived
        self._case_transport = _HeaderCaseTransport(transport)
        self._sending: threading.Event | None = None  # set: the file send in a thread stops
        super().connection_made(self._case_transport)  # type: ignore[arg-type]
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watch()
        if self._sending is not None:
            self._sending.set()
        super().connection_lost(exc)

    # -- receiving --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # answered and closing: ignore whatever else the client sends
        self._last_rx = self.loop.time()
        super().data_received(data)
        if self._phase == HEAD and self._refusal is None and not self.transport.is_closing():
            self._head_bytes += len(data)  # all of it is head (or the tail of a prior body)
            if self._head_bytes > self._limits.max_head_bytes:
                self._refuse(head_too_large(self._limits.max_head_bytes))

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parse error, or to a head we refused from a callback."""
        self._refuse(self._refusal or Refusal("InvalidRequest", f"Bad HTTP request: {msg}"))

    def on_response_complete(self) -> None:
        if self._deferred and not self.pipeline:
            self._deferred = False
            assert self._refusal is not None
            self._refuse(self._refusal)
            return
        super().on_response_complete()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._phase != HEAD:
            self._start_head()
        self._head_began = True

    def on_headers_complete(self) -> None:
        size = len(self.url) + 16 + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self._limits.max_head_bytes:
            self._refusal = head_too_large(self._limits.max_head_bytes)
            raise self._refusal  # stops the parser; data_received -> send_400_response
        super().on_headers_complete()
        self._phase = BODY
        self._arm(self._limits.body_timeout)
        cycle = self.cycle
        if cycle is None:
            return
        original = cycle.send
        marker = self._case_transport

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and not cycle.response_started:
                marker.expect_headers = True
            await original(message)

        cycle.send = send  # type: ignore[method-assign]
        self._offer_zero_copy(cycle)
        cycle.body = _Pieces()  # type: ignore[assignment]
        cycle.receive = _receive_pieces(cycle)  # type: ignore[method-assign]
        cycle.scope.setdefault("extensions", {})[BODY_PIECES] = {}

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if type(cycle.body) is not _Pieces:
            super().on_body(body)
            return
        if cycle.response_complete or (self.parser.should_upgrade() and self._should_upgrade()):
            return
        cycle.body += body
        if len(cycle.body) > BODY_HIGH_WATER:
            self.flow.pause_reading()
        cycle.message_event.set()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._phase == BODY:
            self._phase = APP
            self._stop_watch()

    # -- sending files ----------------------------------------------------------------------
    def _offer_zero_copy(self, cycle: RequestResponseCycle) -> None:
        """Put ``http.response.zerocopysend`` in the scope and handle it in ``cycle.send``."""
        real = self._case_transport._transport
        if real.get_extra_info("socket") is None or real.get_extra_info("sslcontext"):
            return  # sendfile would bypass TLS
        cycle.scope.setdefault("extensions", {})[ZERO_COPY] = {}
        inner = cycle.send

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == ZERO_COPY:
                await self._send_file(cycle, inner, message)
            else:
                await inner(message)

        cycle.send = send  # type: ignore[method-assign]

    async def _send_file(self, cycle: RequestResponseCycle, inner: Any,
                         message: dict[str, Any]) -> None:
        """One ``zerocopysend`` message: ``count`` bytes of ``file`` from ``offset``."""
        count, offset = int(message.get("count", 0)), int(message.get("offset", 0))
        if cycle.disconnected or self.transport.is_closing():
            return  # like uvicorn's send: the response has no one to go to
        if not cycle.response_started or cycle.response_complete:
            raise RuntimeError(f"Unexpected ASGI message '{ZERO_COPY}'.")
        if cycle.chunked_encoding or cycle.scope["method"] == "HEAD":
            await _send_copied(inner, message, count, offset)
            return
        if count > cycle.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if count and not await self._sendfile(message["file"].fileno(), offset, count):
            cycle.disconnected = True  # abandoned: the closed connection gets no more
            return
        cycle.expected_content_length -= count
        if not message.get("more_body", False):
            await inner({"type": "http.response.body", "body": b""})

    async def _sendfile(self, file_fd: int, offset: int, count: int) -> bool:
        """Send the range after the transport's buffer (the header block) has drained; False
        (and the connection closed) when not all of it could be sent."""
        real = self._case_transport._transport
        stall = self._limits.body_timeout
        deadline = self.loop.time() + stall
        while real.get_write_buffer_size() and not real.is_closing():
            if self.loop.time() > deadline:
                real.close()
                return False
            await asyncio.sleep(0.001)
        if real.is_closing():
            return False
        self._sending = stop = threading.Event()
        sock_fd = os.dup(real.get_extra_info("socket").fileno())
        try:
            sent = await asyncio.to_thread(sendfile_all, sock_fd, file_fd, offset, count,
                                           stop, stall)
        finally:
            stop.set()  # a cancelled wait must not leave the thread sending
            self._sending = None
        if sent != count:
            real.close()
        return sent == count

    # -- refusing ---------------------------------------------------------------------------
    def _refuse(self, refusal: Refusal) -> None:
        """Answer ``refusal`` and close; after the response in flight, if there is one (the
        bad bytes came pipelined after a good request, which still gets its own answer)."""
        self._refusal = refusal
        self._stop_watch()
        if self._busy():
            self._deferred = True
            self.flow.pause_reading()
            return
        if not self.transport.is_closing():
            self.transport.write(refusal_response(refusal))
            self.transport.close()

    # -- the watchdog -----------------------------------------------------------------------
    def _start_head(self) -> None:
        self._phase = HEAD
        self._head_began = False
        self._deadline = self.loop.time() + self._limits.header_timeout
        self._arm(self._limits.header_timeout)

    def _arm(self, delay: float) -> None:
        self._stop_watch()
        self._watch = self.loop.call_later(max(delay, 0.01), self._on_watch)

    def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _busy(self) -> bool:
        """A response is being produced on this connection (pipelining aside, rare)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _on_watch(self) -> None:
        self._watch = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._phase == HEAD:
            if now < self._deadline:
                self._arm(self._deadline - now)
            elif self._busy():
                self._arm(self._limits.header_timeout)  # let the request in flight finish
            elif self._head_began:
                self._refuse(Refusal("RequestTimeout", "Your socket connection to the server "
                                     "was not read from or written to within the timeout "
                                     "period. Idle connections will be closed."))
            else:
                self.transport.close()  # never sent a byte: nothing to answer
        elif self._phase == BODY:
            self._watch_body(now)

    def _watch_body(self, now: float) -> None:
        cycle = self.cycle
        if cycle is None or not cycle.more_body:
            return
        if self.flow.read_paused or cycle.waiting_for_100_continue:
            self._last_rx = now  # the app is not reading yet: not the client's stall
        idle = now - self._last_rx
        if idle < self._limits.body_timeout:
            self._arm(self._limits.body_timeout - idle)
        else:
            self.transport.close()  # the app sees http.disconnect and drops the partial body
