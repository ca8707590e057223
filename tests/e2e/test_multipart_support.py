"""Helpers shared by the multipart end-to-end tests (this module holds no tests).

``Raw`` sends hand-built requests with real SigV4 signatures (botocore's signers + requests) so
tests can control the exact query string, Host header and body; ``vhost_client`` is a boto3
client that addresses buckets as ``<bucket>.localhost`` while connecting to 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from .server import ACCESS_KEY, SECRET_KEY, LiveServer

MIB = 1024 * 1024
MIN_PART = 5 * MIB
NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
_BLOCK = os.urandom(MIN_PART)


def data(size: int, seed: int = 0) -> bytes:
    """``size`` pseudo-random bytes, different for each seed (cheap for multi-MiB parts)."""
    head = hashlib.sha256(f"{seed}".encode()).digest()
    out = bytearray(head + _BLOCK[: max(0, min(size, MIN_PART) - len(head))])
    while len(out) < size:
        out += _BLOCK
    return bytes(out[:size])


def s3_etag(parts: list[bytes]) -> str:
    """The quoted S3 multipart ETag of an object made of ``parts``."""
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def md5_b64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def client_error(call: Callable[[], Any]) -> ClientError:
    """Run ``call`` and return the ClientError it must raise."""
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def code_of(err: ClientError) -> tuple[int, str]:
    """(HTTP status, error code) of a boto3 error."""
    return (err.response["ResponseMetadata"]["HTTPStatusCode"],
            err.response.get("Error", {}).get("Code", ""))


def upload_parts(s3: Any, bucket: str, key: str, parts: list[bytes],
                 **create: Any) -> tuple[str, list[str]]:
    """Initiate an upload and upload ``parts`` as parts 1..N; returns (upload id, ETags)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=i,
                            Body=body)["ETag"]
             for i, body in enumerate(parts, start=1)]
    return upload_id, etags


def complete(s3: Any, bucket: str, key: str, upload_id: str, etags: dict[int, str],
             **extra: Any) -> dict[str, Any]:
    parts = [{"PartNumber": n, "ETag": e} for n, e in sorted(etags.items())]
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts}, **extra)


def complete_xml(parts: list[tuple[int, str]]) -> bytes:
    inner = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"
                    for n, e in parts)
    return f'<CompleteMultipartUpload xmlns="{NS[1:-1]}">{inner}</CompleteMultipartUpload>'.encode()


def xml_root(body: bytes) -> ET.Element:
    """Parse a response document with namespaces stripped."""
    root = ET.fromstring(body)
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


@dataclass
class Raw:
    """Signed requests with full control over the wire (query form, Host, headers)."""

    server: LiveServer

    def send(self, method: str, path: str, query: str = "", *, body: bytes = b"",
             headers: dict[str, str] | None = None, host: str | None = None,
             content_sha256: bool = True) -> requests.Response:
        """``content_sha256=False`` signs like plain SigV4 (no x-amz-content-sha256 header)."""
        url = f"{self.server.endpoint}{path}" + (f"?{query}" if query else "")
        hdrs = dict(headers or {})
        hdrs["Host"] = host or f"127.0.0.1:{self.server.port}"
        req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
        signer = S3SigV4Auth if content_sha256 else SigV4Auth
        signer(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(req)
        return requests.request(method, url, data=body, headers=dict(req.headers.items()),
                                timeout=60)

    def vhost(self, bucket: str) -> str:
        return f"{bucket}.localhost:{self.server.port}"


def error_code(resp: requests.Response) -> str:
    return xml_root(resp.content).findtext("Code") or ""


def lone_client(server: LiveServer) -> Any:
    """A client with its own connection pool, for requests the server rejects before reading
    an ``Expect: 100-continue`` body. Should such a rejection ever leave the connection out of
    step again (test_error_before_body_keeps_the_connection_usable), it must not break the
    session-wide client other tests share."""
    return boto3.client(
        "s3", endpoint_url=server.endpoint, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=BotoConfig(retries={"max_attempts": 1}))


def _to_loopback(request: Any, **_: Any) -> None:
    """Keep the virtual-host name in Host but connect to 127.0.0.1 (no DNS for *.localhost)."""
    parts = urlsplit(request.url)
    request.headers["Host"] = parts.netloc
    request.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{parts.port}"))


def vhost_client(server: LiveServer) -> Any:
    client = boto3.client(
        "s3", endpoint_url=f"http://localhost:{server.port}", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        config=BotoConfig(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}))
    client.meta.events.register("before-send.s3", _to_loopback)
    return client
