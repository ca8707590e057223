"""Header names in canonical case on the wire (COS clients read them case-sensitively), and
file bodies sent with sendfile (the ``http.response.zerocopysend`` extension)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from shoal.httpserver import ZERO_COPY, CanonicalHeaderProtocol, recase_header_block, sendfile_all


def test_known_names_recased_others_kept() -> None:
    block = (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\netag: \"abc\"\r\n"
             b"last-modified: Sat, 01 Jan 2000 00:00:00 GMT\r\nx-cos-meta-a: content-length: 1"
             b"\r\n\r\n")
    assert recase_header_block(block) == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"abc\"\r\n"
        b"Last-Modified: Sat, 01 Jan 2000 00:00:00 GMT\r\nx-cos-meta-a: content-length: 1"
        b"\r\n\r\n")


def test_status_line_untouched() -> None:
    block = b"HTTP/1.1 404 Not Found\r\ndate: x\r\n\r\n"
    assert recase_header_block(block) == b"HTTP/1.1 404 Not Found\r\nDate: x\r\n\r\n"


# -- zero-copy file sends (http.response.zerocopysend) ------------------------------------------
DATA = os.urandom(3 * 1024 * 1024 + 7)


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


def test_sendfile_all_sends_the_range_and_closes_its_fd(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    a, b = _pair()
    got = bytearray()
    reader = threading.Thread(target=lambda: [got.extend(c) for c in iter(
        lambda: b.recv(1 << 16), b"")])
    reader.start()
    fd = os.dup(a.fileno())
    with open(path, "rb") as f:
        sent = sendfile_all(fd, f.fileno(), 5, len(DATA) - 10, threading.Event(), 5.0)
    with pytest.raises(OSError):
        os.fstat(fd)  # the duplicate is closed by the sender
    a.close()
    reader.join(10)
    b.close()
    assert sent == len(DATA) - 10
    assert bytes(got) == DATA[5:-5]


def test_sendfile_all_gives_up_on_a_client_that_reads_nothing(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA * 4)
    a, b = _pair()
    began = time.monotonic()
    with open(path, "rb") as f:
        sent = sendfile_all(os.dup(a.fileno()), f.fileno(), 0, len(DATA) * 4,
                            threading.Event(), 0.3)
    assert 0 < sent < len(DATA) * 4
    assert time.monotonic() - began < 5
    a.close()
    b.close()


async def _app_sending(path: Path, seen: dict[str, Any], length: bool) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen["extensions"] = dict(scope.get("extensions") or {})
        headers = [(b"content-length", str(len(DATA) - 3).encode())] if length else []
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with open(path, "rb") as f:
            await send({"type": ZERO_COPY, "file": f, "offset": 1, "count": 1000,
                        "more_body": True})
            await send({"type": ZERO_COPY, "file": f, "offset": 1001,
                        "count": len(DATA) - 1003, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


async def _get(path: Path, length: bool) -> tuple[bytes, dict[str, Any]]:
    seen: dict[str, Any] = {}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(await _app_sending(path, seen, length), host="127.0.0.1",
                            port=port, http=CanonicalHeaderProtocol, loop="asyncio",
                            lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        server.should_exit = True
        await task
    return raw, seen


def _dechunk(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += body[:size]
        body = body[size + 2:]


def test_server_offers_zerocopysend_and_sends_the_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    raw, seen = asyncio.run(_get(path, length=True))
    assert ZERO_COPY in seen["extensions"]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"\r\nContent-Length: " in head
    assert body == DATA[1:-2]


def test_zerocopysend_without_length_falls_back_to_chunks(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    raw, _ = asyncio.run(_get(path, length=False))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert _dechunk(body) == DATA[1:-2]
