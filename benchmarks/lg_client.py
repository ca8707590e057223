"""Load generator plumbing: SigV4 signing, the test pattern, blocking and asyncio HTTP clients.

Kept cheap on purpose so that the client is not what a benchmark measures:

* requests are signed with SigV4 (``UNSIGNED-PAYLOAD``, the signing key derived once per day)
  by a few ``hmac``/``hashlib`` calls, about 10 µs each;
* bodies are slices of one pattern buffer, sent with ``sendall`` straight from a memoryview;
* every byte read back is compared with the pattern in place (``bytearray.startswith`` on a
  memoryview is a memcmp, over 10 GiB/s), nothing is copied to verify it.

Object byte ``i`` of the large object is ``pattern[i % PERIOD]``; PERIOD is a little more than
16 MiB so consecutive 16 MiB parts differ. A small object's body depends on its index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import random
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

ACCESS_KEY, SECRET_KEY, REGION = "loadgen-access-key", "loadgen-secret-key-0123456789", "us-east-1"
HOST = "127.0.0.1"
KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024
PERIOD = 16 * MIB + 4093
UNSIGNED = "UNSIGNED-PAYLOAD"


class VerifyError(AssertionError):
    """The server sent something other than what was stored."""


# -- the data ----------------------------------------------------------------------------------


class Pattern:
    """Deterministic test data, held once as ``pattern + pattern`` so any slice up to PERIOD
    bytes long is one contiguous memoryview."""

    def __init__(self, seed: int = 20261121) -> None:
        base = random.Random(seed).randbytes(PERIOD)
        self.buf = base + base
        self.view = memoryview(self.buf)

    def at(self, offset: int, n: int) -> memoryview:
        """The object's bytes ``[offset, offset + n)`` (n <= PERIOD)."""
        start = offset % PERIOD
        return self.view[start:start + n]

    def small(self, index: int, size: int) -> memoryview:
        """The body of small object ``index``."""
        return self.at(index * 7919 * 64, size)

    def check(self, offset: int, got: bytearray, n: int) -> None:
        """Compare the first ``n`` bytes of ``got`` with the object's bytes at ``offset``."""
        done = 0
        while done < n:
            step = min(n - done, PERIOD)
            if not got.startswith(self.at(offset + done, step), done):
                raise VerifyError(f"bytes {offset + done}..{offset + done + step} differ")
            done += step


# -- SigV4 -------------------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def canonical_query(query: str) -> str:
    """``a=1&b`` (as sent, percent-encoded) -> SigV4's sorted, encoded form."""
    if not query:
        return ""
    pairs = []
    for item in query.split("&"):
        k, _, v = item.partition("=")
        pairs.append((quote(unquote(k), safe="-_.~"), quote(unquote(v), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


@dataclass
class Signer:
    """SigV4 header signing for one access key; the signing key is derived once per day."""

    host: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    _day: str = ""
    _key: bytes = b""

    def _signing_key(self, day: str) -> bytes:
        if day != self._day:
            k = _hmac(("AWS4" + self.secret_key).encode(), day)
            for part in (REGION, "s3", "aws4_request"):
                k = _hmac(k, part)
            self._day, self._key = day, k
        return self._key

    def headers(self, method: str, path: str, query: str) -> str:
        """The signed header lines (``Host`` included) for a request with an unsigned body."""
        now = dt.datetime.now(dt.UTC)
        amz, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        signed = "host;x-amz-content-sha256;x-amz-date"
        canon = (f"{method}\n{path}\n{canonical_query(query)}\nhost:{self.host}\n"
                 f"x-amz-content-sha256:{UNSIGNED}\nx-amz-date:{amz}\n\n{signed}\n{UNSIGNED}")
        scope = f"{day}/{REGION}/s3/aws4_request"
        sts = f"AWS4-HMAC-SHA256\n{amz}\n{scope}\n{hashlib.sha256(canon.encode()).hexdigest()}"
        sig = hmac.new(self._signing_key(day), sts.encode(), hashlib.sha256).hexdigest()
        return (f"Host: {self.host}\r\nX-Amz-Content-SHA256: {UNSIGNED}\r\nX-Amz-Date: {amz}\r\n"
                f"Authorization: AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={sig}\r\n")

    def head(self, method: str, path: str, query: str = "", length: int | None = None,
             extra: str = "") -> bytes:
        """A whole request head: request line, signed headers, ``extra`` lines, length."""
        target = f"{path}?{query}" if query else path
        clen = f"Content-Length: {length}\r\n" if length is not None else ""
        return (f"{method} {target} HTTP/1.1\r\n{self.headers(method, path, query)}"
                f"{extra}{clen}\r\n").encode()


# -- responses ---------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    length: int = 0  # body bytes received (also when they were verified and dropped)


def parse_head(raw: bytes) -> tuple[int, dict[str, str]]:
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
    return status, headers


def body_length(method: str, status: int, headers: dict[str, str]) -> int:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    if "content-length" not in headers:
        raise VerifyError(f"no Content-Length in a {status} reply")
    return int(headers["content-length"])


# -- blocking connection (large transfers, one per thread) -------------------------------------

RECV_BLOCK = 4 * MIB
IDLE_MAX = 5.0  # reconnect rather than reuse a connection idle this long (server keep-alive)


@dataclass
class BlockingConn:
    """One keep-alive connection; bodies go out with sendall and come back with recv_into."""

    port: int
    timeout: float = 300.0
    sock: socket.socket | None = None
    spare: bytearray = field(default_factory=bytearray)  # bytes read past the last head
    buf: bytearray = field(default_factory=lambda: bytearray(RECV_BLOCK))
    last_used: float = 0.0

    def _connect(self) -> socket.socket:
        now = time.monotonic()
        if self.sock is not None and now - self.last_used > IDLE_MAX:
            self.close()  # the server may be closing it: do not race its keep-alive timeout
        self.last_used = now
        if self.sock is None:
            self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.spare = bytearray()
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, head: bytes, body: Sequence[memoryview | bytes] = (),
                method: str = "GET", pattern: Pattern | None = None, offset: int = 0) -> Reply:
        """Send ``head`` and the ``body`` pieces; read the reply. With ``pattern`` the body is
        verified against the object's bytes from ``offset`` on and not kept."""
        sock = self._connect()
        try:
            sock.sendall(head)
            for piece in body:
                sock.sendall(piece)
            status, headers = self._read_head(sock)
            n = body_length(method, status, headers)
            if pattern is not None and status in (200, 206):
                self._verify_body(sock, n, pattern, offset)
                reply = Reply(status, headers, b"", n)
            else:
                reply = Reply(status, headers, self._read_exact(sock, n), n)
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        self.last_used = time.monotonic()
        return reply

    def _read_head(self, sock: socket.socket) -> tuple[int, dict[str, str]]:
        while (end := self.spare.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.spare += chunk
        raw = bytes(self.spare[:end])
        del self.spare[:end + 4]
        return parse_head(raw)

    def _read_exact(self, sock: socket.socket, n: int) -> bytes:
        while len(self.spare) < n:
            chunk = sock.recv(max(65536, n - len(self.spare)))
            if not chunk:
                raise ConnectionError("server closed the connection mid-body")
            self.spare += chunk
        data = bytes(self.spare[:n])
        del self.spare[:n]
        return data

    def _verify_body(self, sock: socket.socket, n: int, pattern: Pattern, offset: int) -> None:
        take = min(n, len(self.spare))
        if take:
            pattern.check(offset, self.spare, take)
            del self.spare[:take]
        done, buf = take, self.buf
        view = memoryview(buf)
        while done < n:
            want = min(len(buf), n - done)
            got = sock.recv_into(view[:want], want, socket.MSG_WAITALL)
            if got <= 0:
                raise ConnectionError(f"server closed the connection after {done} of {n}")
            pattern.check(offset + done, buf, got)
            done += got


# -- asyncio connection (small requests, many in flight) ---------------------------------------


class AsyncConn:
    """One keep-alive connection on the running event loop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: memoryview | bytes = b"",
                      method: str = "GET") -> Reply:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            sock = self.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        try:
            self.writer.write(head)
            if body:
                self.writer.write(body)
            raw = await self.reader.readuntil(b"\r\n\r\n")
            status, headers = parse_head(raw[:-4])
            n = body_length(method, status, headers)
            data = await self.reader.readexactly(n) if n else b""
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, headers, data, n)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
