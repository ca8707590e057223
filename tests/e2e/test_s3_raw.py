"""End to end over raw sockets and hand-built aws-chunked bodies: what clients cannot send."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable
from xml.etree import ElementTree

import pytest
import requests
from botocore.exceptions import ClientError

from .server import LiveServer
from .test_s3_auth import (
    EMPTY_SHA256,
    crc32_b64,
    error_of,
    obj_url,
    sign_v4,
    signed_chunks,
    streaming_headers,
)

Headers = dict[str, str]


class Reply:
    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def code(self) -> str | None:
        return ElementTree.fromstring(self.body).findtext("Code") if self.body else None


def connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head_block(method: str, target: str, headers: Headers) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Conn:
    """One keep-alive connection with a tiny HTTP/1.1 response reader."""

    def __init__(self, server: LiveServer) -> None:
        self.sock = connect(server)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def read_reply(self, head: bool = False) -> Reply:
        while b"\r\n\r\n" not in self.buf:
            if not self._more():
                raise ConnectionError("closed before a response")
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = raw.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        length = 0 if head or status in (100, 204, 304) else \
            int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._more():
                raise ConnectionError("closed inside a response body")
        body, self.buf = self.buf[:length], self.buf[length:]
        return Reply(status, headers, body)

    def closed_by_peer(self) -> bool:
        try:
            return not self.buf and not self._more()
        except ConnectionResetError:
            return True


def signed(server: LiveServer, method: str, path: str, payload: str = "UNSIGNED-PAYLOAD",
           extra: Headers | None = None) -> Headers:
    return sign_v4(method, server.endpoint + path, extra or {}, payload).headers


def exchange(server: LiveServer, data: bytes) -> Reply:
    conn = Conn(server)
    try:
        conn.send(data)
        return conn.read_reply()
    finally:
        conn.close()


def assert_alive(s3) -> None:  # noqa: ANN001
    assert s3.list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200


def assert_absent(s3, bucket: str, key: str) -> None:  # noqa: ANN001
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key=key)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# --------------------------------------------------------------------------- request targets


def test_absolute_form_target(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    s3.put_object(Bucket=bucket, Key="abs/key", Body=b"absolute")
    path = f"/{bucket}/abs/key"
    headers = signed(server, "GET", path, EMPTY_SHA256)
    reply = exchange(server, head_block("GET", server.endpoint + path, headers))
    assert reply.status == 200 and reply.body == b"absolute"


def test_absolute_form_virtual_host_put(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    host = f"{bucket}.localhost:{server.port}"
    body = b"virtual"
    headers = sign_v4("PUT", f"http://{host}/vk", {"content-length": str(len(body))},
                      hashlib.sha256(body).hexdigest()).headers
    reply = exchange(server, head_block("PUT", f"http://{host}/vk", headers) + body)
    assert reply.status == 200, reply.body
    assert s3.get_object(Bucket=bucket, Key="vk")["Body"].read() == body


# --------------------------------------------------------------------------- Expect: 100-continue


def test_expect_continue(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    body = b"after the interim response"
    headers = signed(server, "PUT", f"/{bucket}/exp", hashlib.sha256(body).hexdigest(),
                     {"content-length": str(len(body)), "expect": "100-continue"})
    conn = Conn(server)
    try:
        conn.send(head_block("PUT", f"/{bucket}/exp", headers))
        assert conn.read_reply().status == 100
        conn.send(body)
        assert conn.read_reply().status == 200
        assert_alive(s3)
    finally:
        conn.close()
    assert s3.get_object(Bucket=bucket, Key="exp")["Body"].read() == body


def test_expect_continue_refused_then_keep_going(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    """An early error answers without 100; the unsent body must not eat the next request."""
    headers = signed(server, "PUT", "/no-such-bucket-raw/k", "UNSIGNED-PAYLOAD",
                     {"content-length": "5", "expect": "100-continue"})
    conn = Conn(server)
    try:
        conn.send(head_block("PUT", "/no-such-bucket-raw/k", headers))
        reply = conn.read_reply()
        assert reply.status == 404 and reply.code == "NoSuchBucket"
        # Either the server closes (the body never came) or it reads the next request fine.
        get = signed(server, "GET", f"/{bucket}", EMPTY_SHA256)
        try:
            conn.send(head_block("GET", f"/{bucket}", get))
            follow = conn.read_reply()
        except (ConnectionError, OSError):
            follow = None
        assert follow is None or follow.status == 200
    finally:
        conn.close()
    assert_alive(s3)


def test_keep_alive_after_early_error_with_body(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    """Without Expect the body does arrive; the server skips it and serves the next request."""
    body = b"x" * 5000
    headers = signed(server, "PUT", "/no-such-bucket-raw/k", "UNSIGNED-PAYLOAD",
                     {"content-length": str(len(body))})
    get = signed(server, "GET", f"/{bucket}", EMPTY_SHA256)
    conn = Conn(server)
    try:
        conn.send(head_block("PUT", "/no-such-bucket-raw/k", headers) + body +
                  head_block("GET", f"/{bucket}", get))
        assert conn.read_reply().status == 404
        assert conn.read_reply().status == 200
    finally:
        conn.close()


# --------------------------------------------------------------------------- truncated bodies


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_client_disconnects_mid_body(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    tmp = os.path.join(server.data_dir, "tmp")
    wait_for(lambda: not os.listdir(tmp))
    headers = signed(server, "PUT", f"/{bucket}/partial", "UNSIGNED-PAYLOAD",
                     {"content-length": str(1 << 20)})
    conn = Conn(server)
    conn.send(head_block("PUT", f"/{bucket}/partial", headers) + b"p" * 70000)
    wait_for(lambda: bool(os.listdir(tmp)))  # the server is writing the blob
    conn.close()
    wait_for(lambda: not os.listdir(tmp))  # ... and has thrown it away
    assert_absent(s3, bucket, "partial")
    assert not s3.list_objects_v2(Bucket=bucket).get("Contents")


def test_half_closed_short_body(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    headers = signed(server, "PUT", f"/{bucket}/short", "UNSIGNED-PAYLOAD",
                     {"content-length": "100"})
    conn = Conn(server)
    try:
        conn.send(head_block("PUT", f"/{bucket}/short", headers) + b"only ten b")
        conn.sock.shutdown(socket.SHUT_WR)
        try:
            reply = conn.read_reply()
            assert reply.status == 400
        except (ConnectionError, OSError):
            pass  # closing without an answer is acceptable for a vanished client
    finally:
        conn.close()
    assert_alive(s3)
    assert_absent(s3, bucket, "short")


def _chunked_put(server: LiveServer, path: str, chunks: list[bytes], cut: int) -> Reply:
    """A signed aws-chunked PUT whose framing is cut short while HTTP framing is complete."""
    url = server.endpoint + path
    probe = sign_v4("PUT", url, {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    full = len(signed_chunks(chunks, probe))
    decoded = sum(map(len, chunks))
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(decoded),
             "content-length": str(full - cut)}
    s = sign_v4("PUT", url, extra, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunks(chunks, s)[: full - cut]
    return exchange(server, head_block("PUT", path, s.headers) + body)


@pytest.mark.parametrize("cut", [1, 90, 5000])
def test_truncated_aws_chunked(server: LiveServer, s3, bucket: str, cut: int) -> None:  # noqa: ANN001
    reply = _chunked_put(server, f"/{bucket}/chunky", [b"c" * 8000, b"d" * 100], cut)
    assert reply.status == 400 and reply.code == "IncompleteBody", reply.body
    assert_absent(s3, bucket, "chunky")
    assert_alive(s3)
    ok = _chunked_put(server, f"/{bucket}/chunky", [b"c" * 8000, b"d" * 100], 0)
    assert ok.status == 200, ok.body


def test_garbage_aws_chunked(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    body = b"zz;chunk-signature=abc\r\nhello\r\n0\r\n\r\n"
    extra = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": "5",
             "content-length": str(len(body))}
    s = sign_v4("PUT", f"{server.endpoint}/{bucket}/g", extra,
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    reply = exchange(server, head_block("PUT", f"/{bucket}/g", s.headers) + body)
    assert 400 <= reply.status < 500
    assert_absent(s3, bucket, "g")


# --------------------------------------------------------------------------- oversized headers


@pytest.mark.parametrize("size", [9000, 70000, 1 << 20])
def test_oversized_headers(server: LiveServer, s3, bucket: str, size: int) -> None:  # noqa: ANN001
    headers = signed(server, "GET", f"/{bucket}", EMPTY_SHA256, {"x-amz-meta-pad": "p" * size})
    try:
        reply = exchange(server, head_block("GET", f"/{bucket}", headers))
        assert 400 <= reply.status < 500, reply.status
    except (ConnectionError, OSError):
        pass  # dropping the connection is an acceptable answer to a huge header block
    assert_alive(s3)


def test_many_small_headers(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    extra = {f"x-amz-meta-h{i}": "v" * 40 for i in range(300)}
    headers = signed(server, "PUT", f"/{bucket}/many", "UNSIGNED-PAYLOAD",
                     {**extra, "content-length": "0"})
    reply = exchange(server, head_block("PUT", f"/{bucket}/many", headers))
    assert 400 <= reply.status < 500
    assert_absent(s3, bucket, "many")
    assert_alive(s3)


# --------------------------------------------------------------------------- aborted downloads


def _proc_counter(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {name} in /proc/{pid}/io")


def _open_blobs(pid: int, data_dir: str) -> int:
    blobs = os.path.join(os.path.realpath(data_dir), "blobs")
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith(blobs)
        except OSError:
            continue
    return count


@pytest.mark.skipif(not os.access("/proc/self/io", os.R_OK), reason="needs /proc/<pid>/io")
def test_aborted_download_stops_reading(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    if server.workers > 1:
        pytest.skip("watches the serving process; with several workers that is a child")
    size = 48 << 20
    s3.put_object(Bucket=bucket, Key="huge", Body=os.urandom(1 << 20) * 48)
    assert server.proc is not None
    pid = server.proc.pid
    wait_for(lambda: _open_blobs(pid, server.data_dir) == 0)
    before = _proc_counter(pid, "rchar")
    conn = Conn(server)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    conn.send(head_block("GET", f"/{bucket}/huge", signed(server, "GET", f"/{bucket}/huge",
                                                         EMPTY_SHA256)))
    while b"\r\n\r\n" not in conn.buf:
        assert conn._more()  # noqa: SLF001
    assert conn.buf.startswith(b"HTTP/1.1 200")
    wait_for(lambda: _open_blobs(pid, server.data_dir) > 0)  # streaming has begun
    conn.close()  # unread data pending: the kernel resets the connection
    wait_for(lambda: _open_blobs(pid, server.data_dir) == 0)
    read = _proc_counter(pid, "rchar") - before
    assert read < size // 2, f"server read {read >> 20} MiB of a {size >> 20} MiB object"
    assert_alive(s3)


# --------------------------------------------------------------------------- aws-chunked bodies with trailers


def unsigned_chunks(chunks: list[bytes], trailers: dict[str, str]) -> bytes:
    out = bytearray()
    for chunk in chunks:
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers.items():
        out += f"{name}:{value}\r\n".encode()
    return bytes(out + b"\r\n")


def _put_trailer(url: str, chunks: list[bytes], checksum: str) -> requests.Response:
    body = unsigned_chunks(chunks, {"x-amz-checksum-crc32": checksum})
    headers = streaming_headers(len(body), sum(map(len, chunks)),
                                 {"x-amz-trailer": "x-amz-checksum-crc32"})
    s = sign_v4("PUT", url, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    return requests.put(url, data=body, headers=s.headers, timeout=10)


def test_unsigned_trailer_checksum(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    chunks = [b"first chunk " * 1000, b"second"]
    data = b"".join(chunks)
    resp = _put_trailer(obj_url(server, bucket, "trailer"), chunks, crc32_b64(data))
    assert resp.status_code == 200, resp.text
    assert resp.headers.get("x-amz-checksum-crc32") == crc32_b64(data)
    got = s3.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ChecksumCRC32"] == crc32_b64(data)


def test_unsigned_trailer_bad_checksum(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    resp = _put_trailer(obj_url(server, bucket, "bad-trailer"), [b"data"], crc32_b64(b"other"))
    assert resp.status_code == 400
    assert error_of(resp)["Code"] == "BadDigest"
    assert_absent(s3, bucket, "bad-trailer")


def test_streaming_keeps_other_content_encoding(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    url = obj_url(server, bucket, "gz")
    chunks = [b"not really gzip"]
    probe = sign_v4("PUT", url, {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    headers = streaming_headers(len(signed_chunks(chunks, probe)), len(chunks[0]), {})
    headers["content-encoding"] = "aws-chunked,gzip"
    s = sign_v4("PUT", url, headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    resp = requests.put(url, data=signed_chunks(chunks, s), headers=s.headers, timeout=10)
    assert resp.status_code == 200, resp.text
    head = s3.head_object(Bucket=bucket, Key="gz")
    assert head["ContentEncoding"] == "gzip" and head["ContentLength"] == len(chunks[0])


def test_streaming_without_decoded_length(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    url = obj_url(server, bucket, "nolen")
    probe = sign_v4("PUT", url, {}, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body_len = len(signed_chunks([b"abc"], probe))
    s = sign_v4("PUT", url, {"content-encoding": "aws-chunked", "content-length": str(body_len)},
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    resp = requests.put(url, data=signed_chunks([b"abc"], s), headers=s.headers, timeout=10)
    assert resp.status_code == 411
    assert error_of(resp)["Code"] == "MissingContentLength"
    assert_absent(s3, bucket, "nolen")


def test_declared_trailer_missing(server: LiveServer, s3, bucket: str) -> None:  # noqa: ANN001
    url = obj_url(server, bucket, "no-trailer")
    body = unsigned_chunks([b"data"], {})
    headers = streaming_headers(len(body), 4, {"x-amz-trailer": "x-amz-checksum-crc32"})
    s = sign_v4("PUT", url, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    resp = requests.put(url, data=body, headers=s.headers, timeout=10)
    assert resp.status_code == 400
    assert error_of(resp)["Code"] == "MalformedTrailerError"
    assert_absent(s3, bucket, "no-trailer")


@pytest.mark.parametrize("good", [True, False])
def test_trailer_checksum_on_xml_document(server: LiveServer, s3, bucket: str,  # noqa: ANN001
                                          good: bool) -> None:
    """DeleteObjects needs an integrity check; a trailing checksum is one and is verified."""
    s3.put_object(Bucket=bucket, Key="gone", Body=b"x")
    doc = b"<Delete><Object><Key>gone</Key></Object></Delete>"
    url = f"{server.endpoint}/{bucket}?delete"
    body = unsigned_chunks([doc], {"x-amz-checksum-crc32": crc32_b64(doc if good else b"no")})
    headers = streaming_headers(len(body), len(doc), {"x-amz-trailer": "x-amz-checksum-crc32"})
    s = sign_v4("POST", url, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    resp = requests.post(url, data=body, headers=s.headers, timeout=10)
    if good:
        assert resp.status_code == 200, resp.text
        assert_absent(s3, bucket, "gone")
    else:
        assert resp.status_code == 400 and error_of(resp)["Code"] == "BadDigest"
        assert s3.head_object(Bucket=bucket, Key="gone")["ContentLength"] == 1
