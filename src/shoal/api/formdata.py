"""A streaming multipart/form-data reader for browser-based uploads (POST Object).

Small fields are read whole; the part named ``file`` is handed out as a stream so an upload of
any size passes through with one chunk in memory. Fields after ``file`` are ignored, as S3 does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import Message

from ..core.errors import ShoalError

MAX_FIELD = 64 << 10  # one form field
MAX_HEADERS = 16 << 10  # the headers of one part
MAX_FIELDS = 200


@dataclass(slots=True)
class Form:
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name as sent, value)
    filename: str | None = None  # of the ``file`` part
    file_content_type: str | None = None
    file: AsyncIterator[bytes] | None = None  # the content of the ``file`` part

    def get(self, name: str) -> str | None:
        """The first field with this name, compared case-insensitively."""
        low = name.lower()
        return next((v for k, v in self.fields if k.lower() == low), None)


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart/form-data Content-Type."""
    msg = Message()
    msg["content-type"] = content_type
    boundary = msg.get_param("boundary")
    if msg.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) \
            or not boundary:
        raise ShoalError("InvalidArgument", "Request Content-Type must be multipart/form-data "
                         "with a boundary", ArgumentName="Content-Type",
                         ArgumentValue=content_type[:128])
    return boundary


class _Buffered:
    """An async byte stream with look-ahead."""

    def __init__(self, source: AsyncIterator[bytes]) -> None:
        self.source = source
        self.buf = bytearray()
        self.eof = False

    async def fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = await anext(self.source)
        except StopAsyncIteration:
            self.eof = True
            return False
        self.buf += chunk
        return True

    async def read_until(self, delim: bytes, limit: int) -> bytes:
        """Bytes before ``delim`` (which is consumed); more than ``limit`` is MalformedPOST."""
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[: i + len(delim)]
                return out
            if len(self.buf) > limit + len(delim):
                raise _malformed("a form field is too large")
            start = max(0, len(self.buf) - len(delim) + 1)
            if not await self.fill():
                raise _malformed("the form ended early")

    async def stream_until(self, delim: bytes) -> AsyncIterator[bytes]:
        """Yield everything before ``delim``, keeping only a delimiter's worth buffered."""
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                if i:
                    yield bytes(self.buf[:i])
                del self.buf[: i + len(delim)]
                return
            keep = len(delim) - 1
            if len(self.buf) > keep:
                out = bytes(self.buf[: len(self.buf) - keep])
                del self.buf[: len(self.buf) - keep]
                yield out
            if not await self.fill():
                raise _malformed("the file part is not terminated")


def _malformed(why: str) -> ShoalError:
    return ShoalError("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                      f"multipart/form-data ({why}).")


def _disposition(headers: bytes) -> tuple[str, str | None, str | None]:
    """(field name, filename, content type) from a part's headers."""
    msg = Message()
    for line in headers.decode("utf-8", "replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            msg[name.strip()] = value.strip()
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_param("filename", header="content-disposition")
    if not isinstance(name, str):
        raise _malformed("a part has no field name")
    return name, filename if isinstance(filename, str) else None, msg.get("content-type")


async def read_form(body: AsyncIterator[bytes], boundary: str) -> Form:
    """Read the fields up to the ``file`` part; ``form.file`` then streams its content."""
    reader = _Buffered(body)
    delim = b"--" + boundary.encode("latin-1")
    await reader.read_until(delim, MAX_FIELD)  # preamble
    form = Form()
    while len(form.fields) <= MAX_FIELDS:
        while len(reader.buf) < 2 and await reader.fill():
            pass
        if reader.buf[:2] == b"--":
            return form  # closing delimiter: no file part
        await reader.read_until(b"\r\n", MAX_HEADERS)
        name, filename, ctype = _disposition(await reader.read_until(b"\r\n\r\n", MAX_HEADERS))
        if name.lower() == "file":
            form.filename, form.file_content_type = filename, ctype
            form.file = reader.stream_until(b"\r\n" + delim)
            return form
        value = await reader.read_until(b"\r\n" + delim, MAX_FIELD)
        form.fields.append((name, value.decode("utf-8", "replace")))
    raise _malformed("too many fields")
