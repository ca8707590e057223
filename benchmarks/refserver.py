"""Minimal HTTP servers for the load generator, one thread per connection, blocking I/O.

``files`` (the bare reference): what plain Python can do on this box when all a server does is
keep bodies in files. A PUT (or part) is written to a file with ``recv_into``/``write``, then
fsynced with its directory before the 200, like Shoal. Complete writes a small manifest (no
copy). GET and ranged GET go out with ``socket.sendfile`` (zero-copy). No hashing, no auth
check, no metadata store: a ceiling, not a peer.

``filesmd5``: the same, and it also computes the MD5 of each body for its ETag (multipart:
the MD5 of the part MD5s), the one piece of work an S3 server cannot skip.

``sink``: the trivial server that shows the load generator's own ceiling. It discards request
bodies and answers from memory with the same pattern bytes the client expects, so the client
runs its full signing and verification path while the server costs almost nothing.

    python benchmarks/refserver.py files --port 9100 --dir /tmp/ref
    python benchmarks/refserver.py filesmd5 --port 9102 --dir /tmp/refmd5
    python benchmarks/refserver.py sink --port 9101 --big-size 1073741824 --list-keys 10000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import threading
from urllib.parse import parse_qsl, unquote

from lg_client import PERIOD, Pattern, parse_head

BLOCK = 1 << 20
LIST_KEYS = re.compile(r"^list/k(\d+)$")


def _range(value: str | None, size: int) -> tuple[int, int] | None:
    if not value or not value.startswith("bytes="):
        return None
    first, _, last = value[6:].partition("-")
    return int(first), min(int(last) if last else size - 1, size - 1)


class Handler:
    """One connection: parse a head, dispatch, repeat until the client closes."""

    def __init__(self, sock: socket.socket, server: RefServer) -> None:
        self.sock, self.srv = sock, server
        self.spare = bytearray()

    def run(self) -> None:
        try:
            while self._one():
                pass
        except (ConnectionError, OSError):
            pass
        finally:
            self.sock.close()

    def _one(self) -> bool:
        while (end := self.spare.find(b"\r\n\r\n")) < 0:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.spare += chunk
        line, _, _ = bytes(self.spare[:end]).partition(b"\r\n")
        method, target, _ = line.decode("latin-1").split(" ", 2)
        _, headers = parse_head(b"HTTP/1.1 000 x\r\n" + bytes(self.spare[len(line) + 2:end]))
        del self.spare[:end + 4]
        path, _, query = target.partition("?")
        args = dict(parse_qsl(query, keep_blank_values=True))
        length = int(headers.get("content-length", "0"))
        self.srv.dispatch(self, method, unquote(path), args, headers, length)
        return True

    def read_body(self, n: int, sink: object | None = None) -> bytes:
        """Read ``n`` body bytes; into ``sink.write`` when given, else returned whole."""
        out = bytearray()
        take = min(n, len(self.spare))
        head, self.spare = self.spare[:take], self.spare[take:]
        pieces = [head] if head else []
        left = n - take
        buf = bytearray(min(BLOCK, max(left, 1)))
        view = memoryview(buf)
        while pieces or left:
            for p in pieces:
                if sink is None:
                    out.extend(p)
                else:
                    sink.write(p)  # type: ignore[attr-defined]
            pieces = []
            if left:
                got = self.sock.recv_into(view[:min(len(buf), left)])
                if not got:
                    raise ConnectionError("client went away mid-body")
                left -= got
                pieces = [view[:got]]
        return bytes(out)

    def reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"",
              length: int | None = None) -> None:
        h = dict(headers or {})
        h["Content-Length"] = str(len(body) if length is None else length)
        reason = {200: "OK", 204: "No Content", 206: "Partial Content"}.get(status, "X")
        lines = "".join(f"{k}: {v}\r\n" for k, v in h.items())
        self.sock.sendall(f"HTTP/1.1 {status} {reason}\r\n{lines}\r\n".encode() + body)


class RefServer:
    """Shared state and request dispatch for all modes."""

    def __init__(self, mode: str, root: str, big_size: int, list_keys: int) -> None:
        self.mode, self.root, self.big_size, self.list_keys = mode, root, big_size, list_keys
        self.pattern = Pattern() if mode == "sink" else None
        self.md5 = mode == "filesmd5"
        self.etags: dict[str, str] = {}  # filesmd5: file path -> ETag (without quotes)
        self.uploads = 0
        self.lock = threading.Lock()

    # -- storage (files mode) -------------------------------------------------------------
    def _obj(self, path: str) -> str:
        return os.path.join(self.root, "o", path.strip("/").replace("/", "%2F"))

    def _store(self, h: Handler, path: str, n: int) -> str:
        """Write a body to ``path`` and make it durable: data, then the directory entry.
        Returns the ETag (filesmd5) or "0"."""
        tmp = f"{path}.tmp{threading.get_ident()}"
        with open(tmp, "wb", buffering=0) as f:
            sink = _Hashing(f) if self.md5 else f
            h.read_body(n, sink)
            os.fsync(f.fileno())
        os.replace(tmp, path)
        etag = sink.hexdigest() if isinstance(sink, _Hashing) else "0"
        self.etags[path] = etag
        fd = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return etag

    def _segments(self, path: str) -> list[tuple[str, int]] | None:
        try:
            with open(path + ".manifest") as f:
                return [(p, n) for p, n in json.load(f)]
        except FileNotFoundError:
            pass
        try:
            return [(path, os.stat(path).st_size)]
        except FileNotFoundError:
            return None

    # -- dispatch -------------------------------------------------------------------------
    def dispatch(self, h: Handler, method: str, path: str, args: dict[str, str],
                 headers: dict[str, str], length: int) -> None:
        if method == "PUT" and path.count("/") == 1:
            h.read_body(length)
            os.makedirs(os.path.join(self.root, "o"), exist_ok=True)
            return h.reply(200)
        if method == "POST" and "uploads" in args:
            with self.lock:
                self.uploads += 1
                uid = f"u{self.uploads}"
            os.makedirs(os.path.join(self.root, "u", uid), exist_ok=True)
            return h.reply(200, body=f"<X><UploadId>{uid}</UploadId></X>".encode())
        if method == "PUT":
            if "uploadId" in args:
                dest = os.path.join(self.root, "u", args["uploadId"], args["partNumber"])
            else:
                dest = self._obj(path)
            etag = "0"
            if self.mode == "sink":
                h.read_body(length, _Discard())
            else:
                etag = self._store(h, dest, length)
            return h.reply(200, {"ETag": f'"{etag}"'})
        if method == "POST" and "uploadId" in args:
            return self._complete(h, path, args["uploadId"], length)
        if method in ("GET", "HEAD") and "list-type" in args:
            return self._list(h, args)
        if method in ("GET", "HEAD"):
            return self._get(h, method, path, headers.get("range"))
        if method == "DELETE":
            if self.mode != "sink":
                for p, _ in self._segments(self._obj(path)) or []:
                    os.unlink(p)
                    self.etags.pop(p, None)
            return h.reply(204)
        h.read_body(length)
        h.reply(501)

    def _complete(self, h: Handler, path: str, uid: str, length: int) -> None:
        doc = h.read_body(length).decode()
        numbers = [int(n) for n in re.findall(r"<PartNumber>(\d+)</PartNumber>", doc)]
        etag = f'"0-{len(numbers)}"'
        if self.mode != "sink":
            parts = [os.path.join(self.root, "u", uid, str(n)) for n in numbers]
            if self.md5:
                digests = b"".join(bytes.fromhex(self.etags[p]) for p in parts)
                etag = f'"{hashlib.md5(digests).hexdigest()}-{len(numbers)}"'
                self.etags[self._obj(path)] = etag.strip('"')
            manifest = json.dumps([[p, os.stat(p).st_size] for p in parts]).encode()
            tmp = self._obj(path) + ".manifest.tmp"
            with open(tmp, "wb") as f:
                f.write(manifest)
                os.fsync(f.fileno())
            os.replace(tmp, self._obj(path) + ".manifest")
        h.reply(200, body=f"<X><ETag>{etag}</ETag></X>".encode())

    def _get(self, h: Handler, method: str, path: str, range_header: str | None) -> None:
        if self.mode == "sink":
            return self._get_sink(h, method, path, range_header)
        segments = self._segments(self._obj(path))
        if segments is None:
            return h.reply(404)
        size = sum(n for _, n in segments)
        rng = _range(range_header, size)
        first, last = rng if rng else (0, size - 1)
        headers = {"ETag": f'"{self.etags.get(self._obj(path), "0")}"'}
        if rng:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        h.reply(206 if rng else 200, headers, length=last - first + 1)
        if method == "HEAD":
            return
        pos = 0
        for seg, n in segments:
            lo, hi = max(first, pos), min(last, pos + n - 1)
            if lo <= hi:
                with open(seg, "rb") as f:
                    h.sock.sendfile(f, lo - pos, hi - lo + 1)
            pos += n

    def _get_sink(self, h: Handler, method: str, path: str, range_header: str | None) -> None:
        assert self.pattern is not None
        key = path.split("/", 2)[2]
        if key.startswith("small/"):
            size = int(key.split("-")[-1])
            body = bytes(self.pattern.small(int(key.split("/")[1].split("-")[0]), size))
            return h.reply(200, {"ETag": '"0"'}, b"" if method == "HEAD" else body, size)
        rng = _range(range_header, self.big_size)
        first, last = rng if rng else (0, self.big_size - 1)
        headers = {"Content-Range": f"bytes {first}-{last}/{self.big_size}"} if rng else {}
        h.reply(206 if rng else 200, headers, length=last - first + 1)
        pos = first
        while method == "GET" and pos <= last:
            n = min(last + 1 - pos, PERIOD, 4 * BLOCK)
            h.sock.sendall(self.pattern.at(pos, n))
            pos += n

    def _list(self, h: Handler, args: dict[str, str]) -> None:
        """Sink only: pages over keys ``list/k00000`` ... as Shoal would list them."""
        total, max_keys = self.list_keys, int(args.get("max-keys", "1000"))
        m = LIST_KEYS.match(args.get("continuation-token", ""))
        start = int(m.group(1)) + 1 if m else 0
        keys = [f"list/k{i:05d}" for i in range(start, min(total, start + max_keys))]
        items = "".join(f"<Contents><Key>{k}</Key><Size>0</Size></Contents>" for k in keys)
        more = start + max_keys < total
        token = f"<NextContinuationToken>{keys[-1]}</NextContinuationToken>" if more else ""
        body = (f"<ListBucketResult><IsTruncated>{str(more).lower()}</IsTruncated>{token}"
                f"{items}</ListBucketResult>")
        h.reply(200, {"Content-Type": "application/xml"}, body.encode())


class _Discard:
    def write(self, data: object) -> None:
        pass


class _Hashing:
    """A file wrapper that also feeds what is written to an MD5."""

    def __init__(self, f: object) -> None:
        self.f, self.h = f, hashlib.md5()

    def write(self, data: bytes | memoryview) -> None:
        self.h.update(data)
        self.f.write(data)  # type: ignore[attr-defined]

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def serve(mode: str, port: int, root: str, big_size: int, list_keys: int) -> None:
    srv = RefServer(mode, root, big_size, list_keys)
    lsock = socket.create_server(("127.0.0.1", port), backlog=128)
    while True:
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Handler(conn, srv).run, daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("files", "filesmd5", "sink"))
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", default=".")
    ap.add_argument("--big-size", type=int, default=1 << 30, help="sink: the large object")
    ap.add_argument("--list-keys", type=int, default=10000, help="sink: keys it lists")
    ns = ap.parse_args()
    serve(ns.mode, ns.port, os.path.abspath(ns.dir), ns.big_size, ns.list_keys)


if __name__ == "__main__":
    main()
