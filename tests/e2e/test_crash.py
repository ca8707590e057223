"""Crash test: client threads write while ``shoal serve`` is killed with SIGKILL at random moments.

Each thread owns a few keys, so the operations on a key are sequential and a per-key model of
acknowledged writes is exact: after a 2xx the key holds exactly what was written (or nothing,
after a delete); after a request whose outcome is unknown (the server died under it, or a 5xx)
the key may hold the old or the new state. After each restart every key must be absent or whole
and equal to a state the model allows, byte for byte, ETag and metadata included; acknowledged
parts must be listed, acknowledged completions and aborts must not. Between rounds
``shoal fsck --repair --grace 0`` must find only what a crash may leave (orphan blobs, temp
files), and at the end ``shoal fsck --grace 0`` must find nothing.

Short by default; ``SHOAL_CRASH_ROUNDS=200`` for the long run, ``SHOAL_CRASH_SEED`` to replay
the random choices (the kill timing stays random).
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .server import ACCESS_KEY, SECRET_KEY, LiveServer, fsck, remove, temp_data_dir

ROUNDS = int(os.environ.get("SHOAL_CRASH_ROUNDS", "5"))
SEED = int(os.environ.get("SHOAL_CRASH_SEED", str(random.SystemRandom().randrange(1 << 32))))
THREADS = 3
KEYS_PER_THREAD = 4
BUCKET = "crash"
MiB = 1 << 20
MIN_PART = 5 * MiB  # S3 minimum size of a part that is not the last
CONTENT_TYPES = ("application/octet-stream", "text/plain", "image/png")

ACK, NO, UNKNOWN = "ack", "no", "unknown"


@dataclass(frozen=True, slots=True)
class Version:
    """What a GET of a key returns; None in a model state set stands for "no such key"."""

    md5: str
    size: int
    etag: str
    meta: tuple[tuple[str, str], ...]
    content_type: str


@dataclass(slots=True)
class Pending:
    """A multipart upload and its acknowledged parts: number -> (etag, size)."""

    key: str
    upload_id: str
    parts: dict[int, tuple[str, int]]
    whole: Any  # running hashlib md5 of the parts' bytes, in order
    meta: tuple[tuple[str, str], ...]
    content_type: str


@dataclass
class Model:
    states: dict[str, set[Version | None]] = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    finished_uploads: set[str] = field(default_factory=set)  # acked completes and aborts
    ops: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)

    def count(self, op: str, outcome: str) -> None:
        with self.lock:
            self.ops[f"{op}:{outcome}"] += 1

    def apply(self, key: str, outcome: str, after: set[Version | None]) -> None:
        """A write to ``key`` that made one of ``after``: for sure (ACK), perhaps (UNKNOWN), or
        not at all (NO)."""
        states = self.states.setdefault(key, {None})
        if outcome == ACK:
            states.clear()
        if outcome in (ACK, UNKNOWN):
            states.update(after)


def client(endpoint: str) -> Any:
    cfg = BotoConfig(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                     read_timeout=60, max_pool_connections=4)  # fmt: skip
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY,
                        aws_secret_access_key=SECRET_KEY, region_name="us-east-1", config=cfg)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(part_md5s: list[str]) -> str:
    return md5(b"".join(bytes.fromhex(m) for m in part_md5s)) + f"-{len(part_md5s)}"


def call(fn: Callable[..., Any], **kwargs: Any) -> tuple[str, Any]:
    """(ACK, response) | (NO, error code) for a 4xx | (UNKNOWN, error) otherwise."""
    try:
        return ACK, fn(**kwargs)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return (NO, code) if 400 <= status < 500 else (UNKNOWN, code or str(status))
    except BotoCoreError as exc:  # connection refused, reset, closed, timed out
        return UNKNOWN, exc


class Worker:
    """One client thread: random operations on its own keys until told to stop."""

    def __init__(self, index: int, model: Model, rng: random.Random) -> None:
        self.keys = [f"t{index}/k{j}" for j in range(KEYS_PER_THREAD)]
        self.model, self.rng = model, rng
        self.s3: Any = None
        self.broken = False  # a transport error: stop writing until the server restarts

    def run(self, s3: Any, stop: threading.Event) -> None:
        self.s3, self.broken = s3, False
        ops = [self.put, self.put, self.multipart, self.copy, self.delete]
        while not stop.is_set() and not self.broken:
            self.rng.choice(ops)()

    def outcome(self, op: str, result: tuple[str, Any]) -> str:
        """Count the result; after a transport error this thread stops writing for the round."""
        self.model.count(op, result[0])
        if result[0] == UNKNOWN and isinstance(result[1], str):
            self.model.count(op, f"5xx {result[1]}")
        if result[0] == UNKNOWN and isinstance(result[1], BotoCoreError):
            self.broken = True  # the request may still be in flight on the server
        return result[0]

    def new_meta(self) -> tuple[tuple[str, str], ...]:
        return (("seed", str(self.rng.randrange(1 << 30))),)

    def body(self, limit: int) -> bytes:
        size = self.rng.choice([self.rng.randrange(64 << 10), self.rng.randrange(MiB),
                                self.rng.randrange(limit + 1)])  # fmt: skip
        return os.urandom(size)

    def apply(self, key: str, outcome: str, after: set[Version | None]) -> None:
        self.model.apply(key, outcome, after)

    def put(self) -> None:
        key, data, meta = self.rng.choice(self.keys), self.body(3 * MiB), self.new_meta()
        ctype = self.rng.choice(CONTENT_TYPES)
        res = call(self.s3.put_object, Bucket=BUCKET, Key=key, Body=data, ContentType=ctype,
                   Metadata=dict(meta))  # fmt: skip
        outcome = self.outcome("put", res)
        version = Version(md5(data), len(data), md5(data), meta, ctype)
        if outcome == ACK and res[1]["ETag"].strip('"') != version.etag:
            self.model.fail(f"PUT {key}: ETag {res[1]['ETag']} != {version.etag}")
        self.apply(key, outcome, {version})

    def delete(self) -> None:
        key = self.rng.choice(self.keys)
        self.apply(key, self.outcome("delete", call(self.s3.delete_object, Bucket=BUCKET,
                                                    Key=key)), {None})  # fmt: skip

    def copy(self) -> None:
        src, dst = self.rng.choice(self.keys), self.rng.choice(self.keys)
        replace = src == dst or self.rng.random() < 0.5
        meta, ctype = self.new_meta(), self.rng.choice(CONTENT_TYPES)
        extra = {"MetadataDirective": "REPLACE", "Metadata": dict(meta),
                 "ContentType": ctype} if replace else {}  # fmt: skip
        res = call(self.s3.copy_object, Bucket=BUCKET, Key=dst,
                   CopySource={"Bucket": BUCKET, "Key": src}, **extra)  # fmt: skip
        outcome = self.outcome("copy", res)
        sources = self.model.states.setdefault(src, {None})
        made = {Version(v.md5, v.size, v.etag if src == dst else v.md5,
                        meta if replace else v.meta, ctype if replace else v.content_type)
                for v in sources if v is not None}  # fmt: skip
        if outcome == NO:
            if res[1] != "NoSuchKey" or None not in sources:
                self.model.fail(f"COPY {src} -> {dst}: {res[1]}, source was {sources}")
            sources.intersection_update({None})  # seen absent (no write of it is in flight)
            return
        if outcome == ACK:
            etag = res[1]["CopyObjectResult"]["ETag"].strip('"')
            made = {v for v in made if v.etag == etag}
            if not made:
                self.model.fail(f"COPY {src} -> {dst}: ETag {etag} of no possible source")
            if src != dst:  # the source was seen, too
                sources.intersection_update({v for v in sources if v and v.md5 == etag})
        self.apply(dst, outcome, made)

    def multipart(self) -> None:
        key, meta, ctype = self.rng.choice(self.keys), self.new_meta(), self.rng.choice(CONTENT_TYPES)
        res = call(self.s3.create_multipart_upload, Bucket=BUCKET, Key=key, ContentType=ctype,
                   Metadata=dict(meta))  # fmt: skip
        if self.outcome("create", res) != ACK:
            return
        upload = Pending(key, res[1]["UploadId"], {}, hashlib.md5(), meta, ctype)
        sizes = [MIN_PART, self.rng.randrange(MiB // 2)] if self.rng.random() < 0.3 else [
            self.rng.randrange(2 * MiB)]
        for number, size in enumerate(sizes, 1):
            data = os.urandom(size)
            res = call(self.s3.upload_part, Bucket=BUCKET, Key=key, UploadId=upload.upload_id,
                       PartNumber=number, Body=data)  # fmt: skip
            if self.outcome("part", res) != ACK:
                return  # the upload is left as it is
            if res[1]["ETag"].strip('"') != md5(data):
                self.model.fail(f"UploadPart {key}#{number}: ETag {res[1]['ETag']}")
            upload.parts[number] = (md5(data), size)
            upload.whole.update(data)
        choice = self.rng.random()
        if choice < 0.15:
            with self.model.lock:
                self.model.pending.append(upload)
        elif choice < 0.3:
            res = call(self.s3.abort_multipart_upload, Bucket=BUCKET, Key=key,
                       UploadId=upload.upload_id)  # fmt: skip
            if self.outcome("abort", res) == ACK:
                with self.model.lock:
                    self.model.finished_uploads.add(upload.upload_id)
        else:
            res, version = complete(self.s3, upload, self.model)
            self.apply(key, self.outcome("complete", res), {version})


def complete(s3: Any, upload: Pending, model: Model) -> tuple[tuple[str, Any], Version]:
    """CompleteMultipartUpload with all the upload's parts; (call result, the object made)."""
    numbers = sorted(upload.parts)
    res = call(s3.complete_multipart_upload, Bucket=BUCKET, Key=upload.key,
               UploadId=upload.upload_id, MultipartUpload={"Parts": [
                   {"PartNumber": n, "ETag": f'"{upload.parts[n][0]}"'} for n in numbers]})  # fmt: skip
    etag = multipart_etag([upload.parts[n][0] for n in numbers])
    version = Version(upload.whole.hexdigest(), sum(upload.parts[n][1] for n in numbers), etag,
                      upload.meta, upload.content_type)  # fmt: skip
    if res[0] == ACK:
        with model.lock:
            model.finished_uploads.add(upload.upload_id)
        if res[1]["ETag"].strip('"') != etag:
            model.fail(f"Complete {upload.key}: ETag {res[1]['ETag']} != {etag}")
    return res, version


# -- after a restart -----------------------------------------------------------------------------
def read_version(s3: Any, key: str) -> Version | None | str:
    try:
        got = s3.get_object(Bucket=BUCKET, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return None if code == "NoSuchKey" else f"GET error {code}"
    body = got["Body"].read()
    if len(body) != got["ContentLength"]:
        return f"GET returned {len(body)} of {got['ContentLength']} bytes"
    return Version(md5(body), len(body), got["ETag"].strip('"'),
                   tuple(sorted(got["Metadata"].items())), got["ContentType"])  # fmt: skip


def verify_objects(s3: Any, model: Model) -> None:
    """Each key reads as a state the model allows; the model then holds just what was read."""
    for key, states in sorted(model.states.items()):
        seen = read_version(s3, key)
        if seen not in states:
            model.fail(f"{key}: read {seen}, the model allows {states}")
        model.states[key] = {seen} if not isinstance(seen, str) else states
    listed: dict[str, tuple[str, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed.update({o["Key"]: (o["ETag"].strip('"'), o["Size"]) for o in page.get("Contents", [])})
    for key in sorted(set(listed) | set(model.states)):
        known = {None if v is None else (v.etag, v.size) for v in model.states.get(key, {None})}
        if listed.get(key) not in known:
            model.fail(f"{key}: listed as {listed.get(key)}, read as {known}")


def verify_uploads(s3: Any, model: Model, rng: random.Random) -> None:
    """Acknowledged parts are listed, finished uploads are not; then every upload is finished:
    the tracked ones completed (their object read back) or aborted, the others aborted."""
    listed: dict[str, str] = {}
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET):
        listed.update({u["UploadId"]: u["Key"] for u in page.get("Uploads", [])})
    for upload_id in model.finished_uploads & set(listed):
        model.fail(f"upload {upload_id} was completed or aborted, yet it is listed")
    for up in model.pending:
        if up.upload_id not in listed:
            model.fail(f"upload {up.upload_id} of {up.key} vanished")
            continue
        got = s3.list_parts(Bucket=BUCKET, Key=up.key, UploadId=up.upload_id).get("Parts", [])
        parts = {p["PartNumber"]: (p["ETag"].strip('"'), p["Size"]) for p in got}
        if parts != up.parts:
            model.fail(f"upload {up.upload_id}: parts {parts}, acknowledged {up.parts}")
        elif rng.random() < 0.5:
            res, version = complete(s3, up, model)
            model.count("verify-complete", res[0])
            model.apply(up.key, res[0], {version})
            if res[0] == ACK and read_version(s3, up.key) != version:
                model.fail(f"{up.key}: completed after the restart, reads wrong")
        del listed[up.upload_id]
        if up.upload_id not in model.finished_uploads:
            listed[up.upload_id] = up.key
    for upload_id, key in listed.items():
        res = call(s3.abort_multipart_upload, Bucket=BUCKET, Key=key, UploadId=upload_id)
        model.count("verify-abort", res[0])
        if res[0] == ACK:
            model.finished_uploads.add(upload_id)
    model.pending = []


# -- the test ------------------------------------------------------------------------------------
FSCK_TIMEOUT = 300  # seconds


def check_repair(data_dir: str, model: Model) -> None:
    """With the server stopped: a crash may leave orphans and temp files, nothing else."""
    run = fsck(data_dir, "--repair", "--grace", "0", timeout=FSCK_TIMEOUT)
    if run.returncode != 0:
        model.fail(f"fsck --repair after a crash:\n{run.stdout}{run.stderr}")
    for line in run.stdout.splitlines():
        if line.startswith("found: "):
            for item in line[len("found: "):].split(", "):
                n, kind = item.split(" ", 1)
                model.ops[f"fsck:{kind}"] += int(n)


def crash_round(srv: LiveServer, workers: list[Worker], model: Model, rng: random.Random,
                live_fsck: bool) -> None:  # fmt: skip
    """Traffic for a random while (with an fsck beside it when asked), then SIGKILL."""
    stop = threading.Event()
    # Clients are made here: making them in several threads at once is not thread-safe.
    threads = [threading.Thread(target=w.run, args=(client(srv.endpoint), stop)) for w in workers]
    for t in threads:
        t.start()
    if live_fsck:
        run = fsck(srv.data_dir, timeout=FSCK_TIMEOUT)
        if run.returncode != 0:
            model.fail(f"fsck beside a live server:\n{run.stdout}{run.stderr}")
    stop.wait(rng.uniform(0.05, 1.5))
    srv.stop(sig_kill=True)
    stop.set()
    for t in threads:
        t.join(120)


@pytest.fixture
def data_dir() -> Iterator[str]:
    path = temp_data_dir()
    yield path
    remove(path)


@pytest.mark.timeout(120 + ROUNDS * 30)
def test_sigkill_at_random_moments(data_dir: str) -> None:
    rng = random.Random(SEED)
    model = Model()
    workers = [Worker(i, model, random.Random(rng.random())) for i in range(THREADS)]
    srv = LiveServer(data_dir=data_dir)
    srv.start()
    try:
        client(srv.endpoint).create_bucket(Bucket=BUCKET)
        for rnd in range(ROUNDS):
            crash_round(srv, workers, model, rng, live_fsck=rnd == 0)
            if rnd % 5 == 2:
                check_repair(data_dir, model)
            srv.start()
            s3 = client(srv.endpoint)
            verify_objects(s3, model)
            verify_uploads(s3, model, rng)
        srv.stop()
        check_repair(data_dir, model)
        final = fsck(data_dir, "--grace", "0", timeout=FSCK_TIMEOUT)
        if final.returncode != 0 or "clean: no problems found" not in final.stdout:
            model.fail(f"fsck after the repair:\n{final.stdout}{final.stderr}")
    finally:
        srv.stop(sig_kill=True)
    summary = f"seed {SEED}, {ROUNDS} rounds, operations {dict(sorted(model.ops.items()))}"
    print(f"\ncrash test: {summary}, {len(model.failures)} failures")
    if model.failures:
        pytest.fail(f"{len(model.failures)} failures ({summary}):\n" + "\n".join(model.failures[:20]))
