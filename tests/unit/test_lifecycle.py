"""Bucket lifecycle: the document <-> rules, validation with S3's error codes, rule matching and
due dates (pure functions)."""

from __future__ import annotations

import calendar
import json

import pytest

from shoal.api import lifecycle as doc
from shoal.api.endpoints import Endpoint as E
from shoal.api.routing import route
from shoal.core import lifecycle
from shoal.core.errors import ShoalError
from shoal.core.lifecycle import Filter, Rule

DAY = 86400


def _doc(*rules: str) -> bytes:
    return ("<LifecycleConfiguration>" + "".join(f"<Rule>{r}</Rule>" for r in rules)
            + "</LifecycleConfiguration>").encode()


def _code(body: bytes, any_offset: bool = False) -> str:
    with pytest.raises(ShoalError) as info:
        doc.parse(body, any_offset)
    return info.value.code


EXP = "<Status>Enabled</Status><Expiration><Days>1</Days></Expiration>"


def test_round_trip_through_config_keeps_the_document() -> None:
    body = _doc(
        "<ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"
        "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status>"
        "<Expiration><Days>3</Days></Expiration>"
        "<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition>",
        "<ID>b</ID><Prefix>x/</Prefix><Status>Disabled</Status>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
        "</AbortIncompleteMultipartUpload>",
        "<ID>c</ID><Filter></Filter><Status>Enabled</Status>"
        "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>"
        "<NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays>"
        "</NoncurrentVersionExpiration>",
        "<ID>d</ID><Filter><Tag><Key>t</Key><Value></Value></Tag></Filter>"
        "<Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true"
        "</ExpiredObjectDeleteMarker></Expiration>",
    )
    rules = doc.parse(body)
    stored = json.loads(json.dumps(lifecycle.to_config(rules)))  # as the bucket config keeps it
    again = lifecycle.from_config(stored)
    assert again == rules
    rendered = "".join(doc.render(again))
    assert rendered == (
        "<Rule><ID>a</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"
        "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Enabled</Status>"
        "<Expiration><Days>3</Days></Expiration>"
        "<Transition><Days>0</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>"
        "<Rule><ID>b</ID><Prefix>x/</Prefix><Status>Disabled</Status>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation>"
        "</AbortIncompleteMultipartUpload></Rule>"
        "<Rule><ID>c</ID><Filter></Filter><Status>Enabled</Status>"
        "<Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration>"
        "<NoncurrentVersionExpiration><NoncurrentDays>4</NoncurrentDays>"
        "</NoncurrentVersionExpiration></Rule>"
        "<Rule><ID>d</ID><Filter><Tag><Key>t</Key><Value></Value></Tag></Filter>"
        "<Status>Enabled</Status><Expiration><ExpiredObjectDeleteMarker>true"
        "</ExpiredObjectDeleteMarker></Expiration></Rule>")
    assert doc.parse(("<LifecycleConfiguration>" + rendered + "</LifecycleConfiguration>")
                     .encode()) == rules


def test_missing_id_is_generated_and_unique() -> None:
    rules = doc.parse(_doc(EXP, EXP))
    assert rules[0].id and rules[1].id and rules[0].id != rules[1].id
    assert all(len(r.id) <= lifecycle.MAX_ID for r in rules)


@pytest.mark.parametrize(("body", "code"), [
    (b"<LifecycleConfiguration><Rule>", "MalformedXML"),
    (b"<Other/>", "MalformedXML"),
    (_doc(), "MalformedXML"),
    (_doc(*[EXP] * 1001), "MalformedXML"),
    (_doc("<Status>enabled</Status><Expiration><Days>1</Days></Expiration>"), "MalformedXML"),
    (_doc("<Expiration><Days>1</Days></Expiration>"), "MalformedXML"),
    (_doc("<Prefix>a</Prefix><Filter><Prefix>a</Prefix></Filter>" + EXP), "MalformedXML"),
    (_doc("<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>" + EXP),
     "MalformedXML"),
    (_doc("<Status>Enabled</Status><Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z"
          "</Date></Expiration>"), "MalformedXML"),
    (_doc("<Status>Enabled</Status><Expiration><Days>x</Days></Expiration>"), "MalformedXML"),
    (_doc("<Status>Enabled</Status><Expiration><Date>20200101</Date></Expiration>"),
     "MalformedXML"),
    (_doc("<Status>Enabled</Status><Expiration></Expiration>"), "MalformedXML"),
    (_doc("<ID>" + "a" * 256 + "</ID>" + EXP), "InvalidArgument"),
    (_doc("<ID>r</ID>" + EXP, "<ID>r</ID>" + EXP), "InvalidArgument"),
    (_doc("<Status>Enabled</Status><Expiration><Days>0</Days></Expiration>"), "InvalidArgument"),
    (_doc("<Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>0"
          "</DaysAfterInitiation></AbortIncompleteMultipartUpload>"), "InvalidArgument"),
    (_doc("<Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date>"
          "</Expiration>"), "InvalidArgument"),
    (_doc("<Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00+08:00</Date>"
          "</Expiration>"), "InvalidArgument"),
    (_doc("<ID>r</ID><Status>Enabled</Status>"), "InvalidRequest"),
    (_doc("<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status>"
          "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
          "</AbortIncompleteMultipartUpload>"), "InvalidRequest"),
])
def test_invalid_documents(body: bytes, code: str) -> None:
    assert _code(body) == code


def test_cos_dates_are_midnight_at_their_own_offset() -> None:
    beijing = _doc("<Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00+08:00</Date>"
                   "</Expiration>")
    rule = doc.parse(beijing, any_offset=True)[0]
    assert lifecycle.expiry(rule, 0) == calendar.timegm((2029, 12, 31, 16, 0, 0))
    assert _code(_doc("<Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date>"
                      "</Expiration>").replace(b"00:00:00Z", b"08:00:00+08:00"),
                 any_offset=True) == "InvalidArgument"


def test_filter_matching() -> None:
    f = Filter(form="and", prefix="logs/", tags=[("a", "1")], size_gt=10, size_lt=100)
    assert f.matches("logs/x", 50, [("a", "1"), ("b", "2")])
    assert not f.matches("other/x", 50, [("a", "1")])
    assert not f.matches("logs/x", 10, [("a", "1")])  # strictly greater
    assert not f.matches("logs/x", 100, [("a", "1")])  # strictly less
    assert not f.matches("logs/x", 50, [("a", "2")])
    assert not f.matches("logs/x", 50, [])
    assert not f.matches("logs/x")  # an upload: no tags to match
    assert Filter(form="prefix", prefix="up/").matches("up/k")
    assert not Filter(form="prefix", prefix="up/").matches("down/k")
    assert Filter().matches("anything", 0, [])


def test_due_dates_round_up_to_the_next_midnight() -> None:
    created = calendar.timegm((2024, 3, 1, 13, 30, 0))
    rule = Rule(id="r", enabled=True, expiration_days=1)
    assert lifecycle.expiry(rule, created) == calendar.timegm((2024, 3, 3, 0, 0, 0))
    midnight = calendar.timegm((2024, 3, 1, 0, 0, 0))
    assert lifecycle.expiry(rule, midnight) == calendar.timegm((2024, 3, 2, 0, 0, 0))
    assert lifecycle.expiry(rule, 101.0, day=2) == 104.0  # a short test day
    abort = Rule(id="u", enabled=True, abort_days=2)
    assert lifecycle.abort_due(abort, created) == calendar.timegm((2024, 3, 4, 0, 0, 0))
    assert lifecycle.abort_due(rule, created) is None
    dated = Rule(id="d", enabled=True, expiration_date="2030-01-01T00:00:00Z")
    assert lifecycle.expiry(dated, created) == calendar.timegm((2030, 1, 1, 0, 0, 0))
    assert lifecycle.expiry(Rule(id="n", enabled=True, abort_days=1), created) is None


def test_object_expiry_picks_the_earliest_enabled_matching_rule() -> None:
    rules = [Rule(id="late", enabled=True, expiration_days=5),
             Rule(id="off", enabled=False, expiration_days=1),
             Rule(id="early", enabled=True, expiration_days=2,
                  filter=Filter(form="filter", prefix="a/")),
             Rule(id="tagged", enabled=True, expiration_days=1,
                  filter=Filter(form="filter", tags=[("t", "1")]))]
    assert lifecycle.object_expiry(rules, "a/k", 1, [], 0.0) == (2 * DAY, "early")
    assert lifecycle.object_expiry(rules, "b/k", 1, [], 0.0) == (5 * DAY, "late")
    assert lifecycle.object_expiry(rules, "b/k", 1, [("t", "1")], 0.0) == (DAY, "tagged")
    assert lifecycle.object_expiry(rules[1:2], "b/k", 1, [], 0.0) is None


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_lifecycle_is_routed(method: str) -> None:
    want = {"GET": E.GetBucketLifecycle, "PUT": E.PutBucketLifecycle,
            "DELETE": E.DeleteBucketLifecycle}[method]
    assert route(method, "b", None, {"lifecycle": ""}, False) is want
