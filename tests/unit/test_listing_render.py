"""Listing rows rendered a page at a time give the bytes of rendering each field with E()/raw()."""

from __future__ import annotations

import pytest

from shoal.api.handlers.listing import render_objects
from shoal.api.headers import encode_key
from shoal.api.xmldoc import E, esc, esc_all, iso8601, iso8601_all, raw
from shoal.core.model import ObjectSummary

TRICKY_KEYS = [
    "plain/key.txt", "a&b", "<tag>", "x>y", 'say "hi"', "it's", "cr\rlf\n", "tab\there",
    "nul\x00", "bell\x07", "esc\x1b[0m", "\x0b\x0c", "nonchar\ufffe\uffff", "café/ünï", "日本語",
    "emoji \U0001f600", "%41 + =?#", "/leading//double/", " ", "", "&amp;", "a\u2028b",
]
STAMPS = [
    0.0, 1.0, 1_700_000_000, 1_700_000_000.0004, 1_700_000_000.0005, 1_700_000_000.9994,
    1_700_000_000.9996, 1_700_000_001.25, 1_714_521_599.999999, 946_684_800.5, 4_102_444_799.123,
]


def _reference(o: ObjectSummary, url: bool, names: dict[str, str] | None,
               versions: bool) -> str:
    """A row as the listing handlers rendered it field by field."""
    owner = (raw("Owner", E("ID", o.owner) + E("DisplayName", names.get(o.owner, o.owner)))
             if names is not None else "")
    if versions:
        return raw("Version", E("Key", encode_key(o.key, url)) + E("VersionId", "null")
                   + E("IsLatest", "true") + E("LastModified", iso8601(o.last_modified))
                   + E("ETag", f'"{o.etag}"') + E("Size", o.size) + owner
                   + E("StorageClass", o.storage_class))
    return raw("Contents", E("Key", encode_key(o.key, url))
               + E("LastModified", iso8601(o.last_modified)) + E("ETag", f'"{o.etag}"')
               + E("Size", o.size) + owner + E("StorageClass", o.storage_class))


def _rows(keys: list[str], etags: list[str] | None = None) -> list[ObjectSummary]:
    etags = etags or ["9e107d9d372bb6826bd81d3542a419d6-3", "d41d8cd98f00b204e9800998ecf8427e"]
    owners = ["owner-1", "owner-2", "", 'o&<w>"ner', "unnamed"]
    classes = ["STANDARD", "STANDARD_IA", "GLACIER"]
    return [ObjectSummary(k, i * 1000 + 7, etags[i % len(etags)], STAMPS[i % len(STAMPS)],
                          classes[i % len(classes)], owners[i % len(owners)])
            for i, k in enumerate(keys)]


NAMES = {"owner-1": "Alice & <Bob>", "owner-2": "plain", 'o&<w>"ner': 'q"uote\x01'}


@pytest.mark.parametrize("versions", [False, True])
@pytest.mark.parametrize("names", [None, NAMES, {}])
@pytest.mark.parametrize("url", [False, True])
@pytest.mark.parametrize("keys", [
    TRICKY_KEYS, [k for k in TRICKY_KEYS if k.isascii()], ["list/k00001", "list/k00002"],
    ["only-one"], ["é"],
])
def test_rows_match_field_by_field(keys: list[str], url: bool, names: dict[str, str] | None,
                                   versions: bool) -> None:
    rows = _rows(keys)
    want = [_reference(o, url, names, versions) for o in rows]
    assert render_objects(rows, url, names, versions) == want


def test_lone_surrogates_and_odd_etags_and_classes() -> None:
    keys = ["a\ud800b", "ok", "\udfff"]
    etags = ["abc&def", 'q"q', "c\x02", "e\ufffe", "plain"]
    rows = _rows(keys, etags)
    rows.append(ObjectSummary("x", 0, "etag", 5.5, "weird<&>", "owner-1"))
    for names in (None, NAMES):
        for versions in (False, True):
            want = [_reference(o, False, names, versions) for o in rows]
            assert render_objects(rows, False, names, versions) == want


def test_url_encoding_needs_no_escaping_but_is_applied() -> None:
    [got] = render_objects(_rows(['a b&c<"d>/é\x01']), True, None)
    assert "<Key>a%20b%26c%3C%22d%3E/%C3%A9%01</Key>" in got


def test_empty_page() -> None:
    assert render_objects([], False, None) == []
    assert render_objects([], True, NAMES, versions=True) == []


def test_esc_all_matches_esc_and_keeps_clean_input() -> None:
    clean = ("abc", "d/e-f_g.h~", "é 日本", "\t\n")
    assert esc_all(clean) is clean
    for dirty in (["a", "b&"], ["x\x00"], ["é", "<"], ["\ud800"], ["\uffff"], ['"'], ["\r"]):
        assert list(esc_all(dirty)) == [esc(t) for t in dirty]
        assert esc_all(dirty) != dirty
    assert esc_all([]) == []


def test_iso8601_all_matches_iso8601() -> None:
    stamps = STAMPS + sorted(STAMPS) + [1_700_000_000 + i / 7 for i in range(50)]
    assert iso8601_all(stamps) == [iso8601(t) for t in stamps]
    assert iso8601_all([]) == []


def test_url_encoding_of_every_ascii_character_and_then_some() -> None:
    keys = [chr(c) for c in range(128)] + ["A-z_0.9~/", "é", "\U0001f600", "a b"]
    for page in [[k] for k in keys] + [keys, [k for k in keys if k.isalnum()]]:
        rows = _rows(page)
        assert render_objects(rows, True, None) == [_reference(o, True, None, False) for o in rows]
