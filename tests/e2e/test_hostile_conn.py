"""Hostile connections: broken HTTP framing, oversized heads, slowloris and stalled bodies.

The timeout cases run on a server of their own whose header and body timeouts are cut to
``LIMIT`` seconds (``SHOAL_HEADER_TIMEOUT`` / ``SHOAL_BODY_TIMEOUT``); the framing cases use
the shared one. Every broken request gets a 4xx (or the connection closes, where no answer
can be framed), the server goes on serving, and nothing half-written is left behind.
"""

from __future__ import annotations

import hashlib
import os
import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from .server import LiveServer, own_server
from .test_hostile import BAD_HTTP, Reply, assert_serving, raw_request, read_reply
from .test_s3_auth import sign_v4, signed_chunks

LIMIT = 1.5  # header / body timeout of the timeout server, seconds


def connect(server: LiveServer, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def put_head(server: LiveServer, path: str, extra: dict[str, str],
             payload: str = "UNSIGNED-PAYLOAD") -> bytes:
    headers = sign_v4("PUT", server.endpoint + path, extra, payload).headers
    return raw_request("PUT", path, headers, b"")


def closed(sock: socket.socket) -> bool:
    """The server closed the connection (EOF or reset) with nothing more to read."""
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True


def get(server: LiveServer, path: str) -> Reply:
    headers = sign_v4("GET", server.endpoint + path, {}, hashlib.sha256(b"").hexdigest()).headers
    with connect(server) as sock:
        sock.sendall(raw_request("GET", path, headers, b""))
        return read_reply(sock, "GET")


def make_bucket(server: LiveServer, name: str) -> None:
    with connect(server) as sock:
        sock.sendall(put_head(server, f"/{name}", {"content-length": "0"}))
        assert read_reply(sock, "PUT").status == 200


# -- framing, on the shared server ------------------------------------------------------------
BAD_FRAMING = {
    "content-length-text": "Content-Length: ten\r\n",
    "content-length-negative": "Content-Length: -5\r\n",
    "content-length-twice": "Content-Length: 3\r\nContent-Length: 4\r\n",
    "content-length-and-chunked": "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
    "transfer-encoding-unknown": "Transfer-Encoding: gzip\r\n",
    "header-without-colon": "X-Broken\r\n",
    "space-before-colon": "Content-Length : 3\r\n",
    "obs-fold": "X-A: a\r\n b\r\n",
}


@pytest.mark.parametrize("name", BAD_FRAMING)
def test_bad_framing(server: LiveServer, bucket: str, name: str) -> None:
    head = (f"PUT /{bucket}/framing HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"{BAD_FRAMING[name]}\r\nabc")
    with connect(server) as sock:
        sock.sendall(head.encode())
        reply = read_reply(sock, "PUT")
    assert (reply.status, reply.code) in ((400, BAD_HTTP[0]), (411, "MissingContentLength")), \
        (name, reply.status, reply.body)
    assert_serving(server)


def test_body_longer_than_content_length(server: LiveServer, bucket: str) -> None:
    """The bytes past Content-Length are the next request: garbage, answered 400 and closed."""
    path = f"/{bucket}/short"
    with connect(server) as sock:
        sock.sendall(put_head(server, path, {"content-length": "5"}) + b"12345EXTRA BYTES\r\n\r\n")
        answers = b""
        while data := sock.recv(65536):
            answers += data
    first, _, second = answers.partition(b"\r\nHTTP/1.1 ")
    assert first.startswith(b"HTTP/1.1 200 ") and second.startswith(b"400 "), answers
    assert b"<Code>InvalidRequest</Code>" in second
    reply = get(server, path)
    assert reply.status == 200 and reply.body == b"12345"


def test_body_shorter_than_content_length(server: LiveServer, bucket: str) -> None:
    path = f"/{bucket}/truncated"
    with connect(server) as sock:
        sock.sendall(put_head(server, path, {"content-length": "1000"}) + b"only a few bytes")
        sock.shutdown(socket.SHUT_WR)
        try:
            reply = read_reply(sock, "PUT")
            assert reply.status == 400 and reply.code == "IncompleteBody"
        except ConnectionError:
            pass  # closing without an answer is fine for a client that went away
    assert get(server, path).status == 404
    assert_serving(server)


@pytest.mark.parametrize("body", [
    b"zz;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n",  # size not hex
    b"ffffffffffffffffffff;chunk-signature=00\r\nhello\r\n",  # absurd size
    b"5;chunk-signature=00\r\nhello",  # no final chunk
    b"5\r\nhello\r\n0\r\n\r\n",  # no signatures at all
    b"",  # nothing
], ids=["not-hex", "huge-size", "no-final-chunk", "unsigned-chunks", "empty"])
def test_broken_aws_chunked(server: LiveServer, bucket: str, body: bytes) -> None:
    path = f"/{bucket}/chunked"
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5",
             "content-length": str(len(body))}
    headers = sign_v4("PUT", server.endpoint + path, extra,
                      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD").headers
    with connect(server) as sock:
        sock.sendall(raw_request("PUT", path, headers, body))
        reply = read_reply(sock, "PUT")
    assert 400 <= reply.status < 500 and reply.code in (
        "IncompleteBody", "SignatureDoesNotMatch", "InvalidChunkSizeError",
        "IncompleteSignature", "InvalidArgument"), (reply.status, reply.body)
    assert get(server, path).status == 404


def test_bad_chunk_signature_mid_stream(server: LiveServer, bucket: str) -> None:
    path = f"/{bucket}/signed"
    chunks = [b"a" * 70000, b"b" * 100]
    probe = sign_v4("PUT", server.endpoint + path, {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "70100",
             "content-length": str(len(signed_chunks(chunks, probe)))}
    s = sign_v4("PUT", server.endpoint + path, extra, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = bytearray(signed_chunks(chunks, s))
    second = body.index(b"chunk-signature=", 100) + len(b"chunk-signature=")
    body[second] = ord("0") if body[second] != ord("0") else ord("1")
    with connect(server) as sock:
        sock.sendall(raw_request("PUT", path, s.headers, bytes(body)))
        reply = read_reply(sock, "PUT")
    assert (reply.status, reply.code) == (403, "SignatureDoesNotMatch")
    assert get(server, path).status == 404


def answered(sock: socket.socket, wait: float) -> bool:
    """Wait up to ``wait`` seconds for the server to say something (then stop sending: more
    bytes after its close would make it reset the connection, losing the answer)."""
    return bool(select.select([sock], [], [], wait)[0])


def test_head_over_cap_sent_slowly(server: LiveServer) -> None:
    """The cap applies before the head is complete: 40 KiB of one header, in 4 KiB sends."""
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        for _ in range(10):
            if answered(sock, 0.02):
                break
            sock.sendall(b"p" * 4096)
        reply = read_reply(sock, "GET")
    assert (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge")


def test_many_header_lines(server: LiveServer) -> None:
    head = "GET / HTTP/1.1\r\nHost: x\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(3000))
    with connect(server) as sock:
        sock.sendall(head.encode() + b"\r\n")
        reply = read_reply(sock, "GET")
    assert (reply.status, reply.code) == (400, "RequestHeaderSectionTooLarge")
    assert_serving(server)


# -- timeouts, on a server of their own -------------------------------------------------------
@pytest.fixture(scope="module")
def quick() -> Iterator[LiveServer]:
    with own_server(env={"SHOAL_HEADER_TIMEOUT": str(LIMIT),
                         "SHOAL_BODY_TIMEOUT": str(LIMIT)}) as srv:
        make_bucket(srv, "quick")
        yield srv


class Latency:
    """GETs in a loop on another thread; the slowest one must stay fast."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.worst = 0.0
        self.count = 0
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            reply = get(self.server, "/quick")
            self.worst = max(self.worst, time.monotonic() - t0)
            self.count += 1
            if reply.status != 200:
                self.failures.append(f"{reply.status} {reply.body[:100]!r}")
            time.sleep(0.02)

    def __enter__(self) -> Latency:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def slowloris(server: LiveServer, out: list[tuple[float, bytes]]) -> None:
    """Sends a request head a byte at a time (5 bytes a second) and records the answer."""
    head = b"GET /quick HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100 + b"\r\n\r\n"
    t0 = time.monotonic()
    with connect(server, timeout=LIMIT * 4) as sock:
        for byte in head:
            sock.sendall(bytes([byte]))
            if answered(sock, 0.2):
                break
        try:
            answer = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    out.append((time.monotonic() - t0, answer))


def test_slowloris_times_out_without_starving_others(quick: LiveServer) -> None:
    results: list[tuple[float, bytes]] = []
    slow = [threading.Thread(target=slowloris, args=(quick, results)) for _ in range(30)]
    with Latency(quick) as probe:
        for t in slow:
            t.start()
        for t in slow:
            t.join(LIMIT * 6)
    assert len(results) == 30
    for elapsed, answer in results:
        assert LIMIT * 0.9 <= elapsed <= LIMIT * 3, elapsed
        assert answer.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in answer
    assert not probe.failures and probe.count >= 10, (probe.count, probe.failures[:3])
    assert probe.worst < 1.0, f"a normal GET took {probe.worst:.2f} s beside the slowloris"


def test_idle_connection_is_closed(quick: LiveServer) -> None:
    with connect(quick, timeout=LIMIT * 4) as sock:
        t0 = time.monotonic()
        assert closed(sock)
        assert LIMIT * 0.9 <= time.monotonic() - t0 <= LIMIT * 3


def test_keep_alive_pause_is_not_a_header_timeout(quick: LiveServer) -> None:
    """Between requests the keep-alive timeout applies (30 s), not the header timeout."""
    headers = sign_v4("GET", quick.endpoint + "/quick", {},
                      hashlib.sha256(b"").hexdigest()).headers
    with connect(quick) as sock:
        for _ in range(2):
            sock.sendall(raw_request("GET", "/quick", headers, b""))
            assert read_reply(sock, "GET").status == 200
            time.sleep(LIMIT * 1.5)


def test_stalled_body_is_dropped(quick: LiveServer) -> None:
    tmp = os.path.join(quick.data_dir, "tmp")
    with connect(quick, timeout=LIMIT * 4) as sock:
        sock.sendall(put_head(quick, "/quick/stalled", {"content-length": "200000"})
                     + b"x" * 100000)
        t0 = time.monotonic()
        assert closed(sock)
        assert LIMIT * 0.9 <= time.monotonic() - t0 <= LIMIT * 3
    deadline = time.monotonic() + 5
    while os.listdir(tmp) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.listdir(tmp), "the partial upload was kept"
    assert get(quick, "/quick/stalled").status == 404


def test_slow_but_steady_body_is_fine(quick: LiveServer) -> None:
    """A body that keeps coming, more slowly than the timeout in total, is not cut."""
    data = b"0123456789" * 10
    with connect(quick, timeout=LIMIT * 4) as sock:
        sock.sendall(put_head(quick, "/quick/steady", {"content-length": str(len(data))},
                              hashlib.sha256(data).hexdigest()))
        for i in range(0, len(data), 10):
            sock.sendall(data[i:i + 10])
            time.sleep(LIMIT / 5)
        assert read_reply(sock, "PUT").status == 200
    assert get(quick, "/quick/steady").body == data
