"""The request as the handlers see it: parsed once, body left as a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from ..core.auth import ANONYMOUS, Principal
from ..core.errors import ShoalError
from ..core.numbers import is_decimal

Receive = Callable[[], Any]
# A server extension (shoal.httpserver): request body messages carry the pieces as received.
BODY_PIECES = "shoal.body_pieces"


@dataclass(slots=True)
class Request:
    method: str
    raw_path: str  # path as on the wire, still percent-encoded, without the query
    query_string: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    receive: Receive
    scheme: str = "http"
    client_host: str = ""
    query: list[tuple[str, str]] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)  # first value of each query param
    bucket: str | None = None
    key: str | None = None
    principal: Principal = ANONYMOUS
    request_id: str = ""
    body: AsyncIterator[bytes] | None = None  # set by authentication (may be a decoder)
    body_digest: Any = None  # payload expectations set by authentication (see api.body)
    state: dict[str, Any] = field(default_factory=dict)
    body_started: bool = False  # receive() was called: the server has sent 100 Continue

    def __post_init__(self) -> None:
        self.query = parse_qsl(self.query_string, keep_blank_values=True)
        args: dict[str, str] = {}
        for k, v in self.query:
            args.setdefault(k, v)
        self.args = args

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    @property
    def path(self) -> str:
        """The decoded path (percent-decoded once, never normalised)."""
        try:
            return unquote(self.raw_path, errors="strict")
        except UnicodeDecodeError as exc:
            raise ShoalError("InvalidURI", "Couldn't parse the specified URI.") from exc

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    @property
    def header_bytes(self) -> int:
        """Size of the header section as sent (``name: value\\r\\n`` per header)."""
        return sum(len(k) + len(v) + 4 for k, v in self.headers.items())

    @property
    def declares_body(self) -> bool:
        """The request announces a body (non-zero Content-Length or chunked framing)."""
        length = self.headers.get("content-length", "").strip()
        return (is_decimal(length) and int(length) > 0) or "transfer-encoding" in self.headers

    @property
    def body_withheld(self) -> bool:
        """An ``Expect: 100-continue`` body the client is still holding back.

        Answering without reading it means the client never sends it, while the HTTP server
        would take the client's next request as that body: the connection must close.
        """
        expect = self.headers.get("expect", "").strip().lower()
        return expect == "100-continue" and not self.body_started and self.declares_body

    async def raw_stream(self) -> AsyncIterator[bytes]:
        """The body exactly as received from the ASGI server."""
        self.body_started = True
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise ShoalError("IncompleteBody")
            pieces = msg.get(BODY_PIECES)
            if pieces is not None:  # the server's uncopied pieces (shoal.httpserver)
                for piece in pieces:
                    yield piece
            else:
                chunk = msg.get("body", b"")
                if chunk:
                    yield chunk
            if not msg.get("more_body", False):
                return
