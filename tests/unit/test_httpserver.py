"""Header names in canonical case on the wire (COS clients read them case-sensitively)."""

from __future__ import annotations

from shoal.httpserver import recase_header_block


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
