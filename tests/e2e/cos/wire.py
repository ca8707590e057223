"""Raw COS-signed HTTP requests (requests + shoal's make_authorization), for wire-level checks."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from urllib.parse import quote, quote_plus
from xml.etree import ElementTree

import requests

from shoal.dialects.cos.signature import make_authorization

from ..server import ACCESS_KEY, SECRET_KEY

REGION = "ap-guangzhou"


def cos_host(bucket: str) -> str:
    return f"{bucket}.cos.{REGION}.myqcloud.com"


def xml(resp: requests.Response) -> ElementTree.Element:
    return ElementTree.fromstring(resp.content)


class Wire:
    """Sends requests to 127.0.0.1:port with a chosen Host, signed like the COS SDK."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"

    def url(self, key: str, query: Sequence[tuple[str, str]] = ()) -> str:
        """The URL; a parameter with an empty value is sent bare (``?uploads``)."""
        url = self.base + "/" + quote(key, safe="/-_.~")
        parts = [quote_plus(k) + (f"={quote_plus(v)}" if v else "") for k, v in query]
        return url + ("?" + "&".join(parts) if parts else "")

    def request(self, method: str, bucket: str | None, key: str = "", *,
                query: Sequence[tuple[str, str]] = (), headers: Mapping[str, str] | None = None,
                body: bytes = b"", sign: bool = True, secret: str = SECRET_KEY,
                host: str | None = None, window: tuple[int, int] | None = None,
                signed_host: str | None = None) -> requests.Response:
        """One request; every header given (plus Host and Content-Length) is signed.

        ``signed_host`` signs another Host value than the one sent (e.g. without the port).
        """
        hdrs = {"Host": host or (cos_host(bucket) if bucket else f"127.0.0.1:{self.port}")}
        if body or method in ("PUT", "POST"):
            hdrs["Content-Length"] = str(len(body))
        hdrs.update(headers or {})
        if sign:
            now = int(time.time())
            start, end = window or (now - 60, now + 600)
            signed = {k.lower(): v for k, v in hdrs.items()}
            if signed_host is not None:
                signed["host"] = signed_host
            hdrs["Authorization"] = make_authorization(
                ACCESS_KEY, secret, method, "/" + key, list(query), signed, start, end)
        return requests.request(method, self.url(key, query), headers=hdrs, data=body,
                                timeout=30)


def ci(headers: Mapping[str, object]) -> dict[str, object]:
    """Lower-case keys: the SDK returns header dicts keyed exactly as the server spelled them.

    Header-name case is asserted on its own (test_cos_wire); other tests look names up this way.
    """
    return {k.lower(): v for k, v in headers.items()}
