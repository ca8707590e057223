"""Response values returned by handlers; only ``api.server`` writes them to the client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | AsyncIterator[bytes] = b""
    # Length of a streamed body (Content-Length), when the body is an iterator.
    length: int | None = None
    # HEAD responses keep Content-Length but send no body.
    head: bool = False
    # Send a streamed body as it comes, never read whole first (a paced download).
    stream: bool = False

    @classmethod
    def xml(cls, doc: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        h = {"Content-Type": "application/xml"}
        if headers:
            h.update(headers)
        return cls(status, h, doc)

    @classmethod
    def empty(cls, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, dict(headers or {}), b"")
