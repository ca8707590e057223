"""Identifiers made per request and per blob: format, uniqueness, and how blobs share dirs."""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime

from shoal.api import dialect
from shoal.store import fs


def test_request_ids_are_unique_hex() -> None:
    ids = [dialect._request_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9A-F]{16}", i) for i in ids)
    assert len({i[:6] for i in ids}) == 1  # one process: one random prefix, then a counter


def test_http_date_is_now() -> None:
    got = parsedate_to_datetime(dialect.http_date()).timestamp()
    assert abs(got - time.time()) <= 1.5
    assert dialect.http_date().endswith(" GMT")


def test_blob_ids_share_a_directory_for_a_run_then_move_on() -> None:
    fs._slot[2] = 0  # start a new run
    ids = [fs.new_blob_id() for _ in range(fs.SLOT_BLOBS * 3)]
    assert len(set(ids)) == len(ids)
    assert all(fs.check_blob_id(i) == i for i in ids)
    runs = [ids[n: n + fs.SLOT_BLOBS] for n in range(0, len(ids), fs.SLOT_BLOBS)]
    prefixes = [{i[:4] for i in run} for run in runs]
    assert all(len(p) == 1 for p in prefixes)
    # 16-bit prefixes drawn at random: three runs in a row on one directory is a 1 in 2^32 event
    assert len(set().union(*prefixes)) > 1
