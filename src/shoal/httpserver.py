"""uvicorn's httptools protocol, with response header names written in canonical case.

uvicorn (like granian and hyper) lower-cases response header names. HTTP says names are
case-insensitive, but cos-python-sdk-v5 and coscmd copy the headers into a plain dict and read
``Content-Length``, ``ETag`` and ``Last-Modified`` by exact name. This protocol restores the case
of well-known names in the header block of each response and changes nothing else: bodies go
to the socket untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class CanonicalHeaderProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._case_transport = _HeaderCaseTransport(transport)
        super().connection_made(self._case_transport)  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
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
