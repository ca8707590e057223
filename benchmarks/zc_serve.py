"""A prototype: ``shoal serve`` with fewer copies in the HTTP layer, for measurement.

Sending: uvicorn has no file-response path: every body byte is copied into the socket by the
event loop thread, holding the GIL. Shoal's ASGI app already uses the
``http.response.zerocopysend`` extension when a server offers it (``api/server.py``), so this
protocol offers it: on such a message it waits for the transport's buffer to drain, then
``os.sendfile`` sends the file range to the socket from a worker thread (the GIL released, no copy
in user space) and tells uvicorn's response cycle how many body bytes went out.

Receiving: uvicorn appends each piece of a request body to a bytearray (a copy) and hands the
app ``bytes(bytearray)`` (another copy), both on the event loop thread. Here the pieces are
kept as they arrived and handed over as they are (joined only when several are waiting).

It subclasses Shoal's own protocol (``shoal.httpserver``), so it keeps its canonical header
names and limits. It is a benchmark prototype for the owner of ``httpserver.py``: the loadgen
runs it as the server ``shoal+zc``. Same options as ``shoal serve``:

    SHOAL_ACCESS_KEY=ak SHOAL_SECRET_KEY=sk python benchmarks/zc_serve.py --port 9000 \\
        --data-dir /tmp/data [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
from typing import Any

from shoal.cli import config_from_args, new_event_loop  # noqa: F401 - the loop factory
from shoal.httpserver import CanonicalHeaderProtocol

ZERO_COPY = "http.response.zerocopysend"


def _sendfile(sock_fd: int, file_fd: int, offset: int, count: int) -> int:
    """Send ``count`` bytes of the file from ``offset`` to a non-blocking socket (in a thread)."""
    sent = 0
    while sent < count:
        try:
            n = os.sendfile(sock_fd, file_fd, offset + sent, count - sent)
        except BlockingIOError:
            select.select([], [sock_fd], [], 5.0)
            continue
        if n == 0:  # end of file: the blob is shorter than the metadata says
            break
        sent += n
    return sent


class Pieces:
    """Stands in for uvicorn's body bytearray: ``+=`` keeps the piece, ``bytes()`` joins."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.size = 0

    def __iadd__(self, piece: bytes) -> Pieces:
        self.items.append(piece)
        self.size += len(piece)
        return self

    def __len__(self) -> int:
        return self.size

    def __bytes__(self) -> bytes:
        return self.items[0] if len(self.items) == 1 else b"".join(self.items)


def _receive(cycle: Any) -> Any:
    """uvicorn's RequestResponseCycle.receive, handing over the pieces without copies."""

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
        body, cycle.body = bytes(cycle.body), Pieces()
        return {"type": "http.request", "body": body, "more_body": cycle.more_body}

    return receive


class ZeroCopyProtocol(CanonicalHeaderProtocol):
    """Offers ``http.response.zerocopysend`` to the app; passes request bodies uncopied."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.body = Pieces()
        cycle.receive = _receive(cycle)  # type: ignore[method-assign]
        cycle.scope.setdefault("extensions", {})[ZERO_COPY] = {}
        inner = cycle.send
        transport = self._case_transport._transport  # the real one, for the socket

        async def send(message: dict[str, Any]) -> None:
            if message["type"] != ZERO_COPY:
                await inner(message)
                return
            while transport.get_write_buffer_size():  # the head must be out first
                await asyncio.sleep(0.0005)
            sock = transport.get_extra_info("socket")
            count = int(message.get("count", 0))
            sent = await asyncio.to_thread(_sendfile, sock.fileno(), message["file"].fileno(),
                                           int(message.get("offset", 0)), count)
            if sent != count:
                transport.close()
                raise OSError(f"sendfile sent {sent} of {count} bytes")
            cycle.expected_content_length -= sent
            if not message.get("more_body", False):
                await inner({"type": "http.response.body", "body": b""})

        cycle.send = send  # type: ignore[method-assign]


def main() -> None:
    import uvicorn

    from shoal.cli import _serve_args

    ap = argparse.ArgumentParser(description="shoal serve with zero-copy file sends")
    _serve_args(ap)
    ns = ap.parse_args()
    ns.domain, ns.cos_domain = ns.domain or [], ns.cos_domain or []
    cfg = config_from_args(ns)
    os.environ.update(cfg.to_env())
    uvicorn.run("shoal.app:create_app", factory=True, host=cfg.host, port=cfg.port,
                workers=cfg.workers if cfg.workers > 1 else None,
                loop="shoal.cli:new_event_loop", http=ZeroCopyProtocol,
                log_level=cfg.log_level, access_log=False, server_header=False,
                date_header=False, timeout_keep_alive=30)


if __name__ == "__main__":
    main()
