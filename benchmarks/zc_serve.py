"""A prototype: ``shoal serve`` with fewer copies when receiving, for measurement.

Sending files without copies (``http.response.zerocopysend``) is now in Shoal's own protocol
(``shoal.httpserver.CanonicalHeaderProtocol``); this adds what is still an experiment.

Receiving: uvicorn appends each piece of a request body to a bytearray (a copy) and hands the
app ``bytes(bytearray)`` (another copy), both on the event loop thread. Here the pieces are
kept as they arrived and handed over as they are (joined only when several are waiting).

The loadgen runs it as the server ``shoal+zc``. Same options as ``shoal serve``:

    SHOAL_ACCESS_KEY=ak SHOAL_SECRET_KEY=sk python benchmarks/zc_serve.py --port 9000 \\
        --data-dir /tmp/data [--workers 2]
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from shoal.cli import config_from_args, new_event_loop  # noqa: F401 - the loop factory
from shoal.httpserver import CanonicalHeaderProtocol


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
    """Shoal's protocol (zero-copy file sends included), passing request bodies uncopied."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            return
        cycle.body = Pieces()  # type: ignore[assignment]
        cycle.receive = _receive(cycle)  # type: ignore[method-assign]


def main() -> None:
    import uvicorn

    from shoal.cli import _serve_args

    ap = argparse.ArgumentParser(description="shoal serve with uncopied request bodies")
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
