"""COS POST Object form signature: Tencent's worked example, an independent vector, COS's
policy rules and the failures (product/436/14690, "Signature protection")."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import pytest

from shoal.api.postpolicy import parse as parse_policy
from shoal.core.auth import Keyring
from shoal.core.errors import ShoalError
from shoal.dialects.cos.post_signature import (
    PostAuth,
    authenticate,
    check_policy,
    parse,
    sign,
    string_to_sign,
    verify,
)
from shoal.dialects.cos.signature import sign_key

# Tencent's worked example (POST Object, "Signature protection use cases").
DOC_AK = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
DOC_SK = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
DOC_KEY_TIME = "1567150692;1567157892"
DOC_POLICY = (
    "ewogICAgImV4cGlyYXRpb24iOiAiMjAxOS0wOC0zMFQwOTozODoxMi40MTRaIiwKICAgICJjb25kaXRpb25zIjog"
    "WwogICAgICAgIHsgImFjbCI6ICJkZWZhdWx0IiB9LAogICAgICAgIHsgImJ1Y2tldCI6ICJleGFtcGxlYnVja2V0"
    "LTEyNTAwMDAwMDAiIH0sCiAgICAgICAgWyAic3RhcnRzLXdpdGgiLCAiJGtleSIsICJmb2xkZXIvc3ViZm9sZGVy"
    "LyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkQ29udGVudC1UeXBlIiwgImltYWdlLyIgXSwKICAgICAg"
    "ICBbICJzdGFydHMtd2l0aCIsICIkc3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiLCAiaHR0cHM6Ly9teS53ZWJzaXRl"
    "LyIgXSwKICAgICAgICBbICJlcSIsICIkeC1jb3Mtc2VydmVyLXNpZGUtZW5jcnlwdGlvbiIsICJBRVMyNTYiIF0s"
    "CiAgICAgICAgeyAicS1zaWduLWFsZ29yaXRobSI6ICJzaGExIiB9LAogICAgICAgIHsgInEtYWsiOiAiQUtJRFFq"
    "ejNsdG9tcFZqQm5pNUxpdGtXSEZsRnB3a245VTVxIiB9LAogICAgICAgIHsgInEtc2lnbi10aW1lIjogIjE1Njcx"
    "NTA2OTI7MTU2NzE1Nzg5MiIgfQogICAgXQp9"
)
DOC_SIGN_KEY = "39acc8c9f34ba5b19bce4e965b370cd3f62d2fba"
DOC_STRING_TO_SIGN = "d5d903b8360468bc81c1311f134989bc8c8b5b89"
DOC_SIGNATURE = "7758dc9a832e9d301dca704cacbf9d9f8172fdef"
DOC_NOW = 1567151000.0  # inside the KeyTime, before the policy's expiration (09:38:12Z)
# Form fields that satisfy the example policy.
DOC_FORM = {
    "key": "folder/subfolder/photo.jpg", "bucket": "examplebucket-1250000000", "acl": "default",
    "content-type": "image/jpeg", "success_action_redirect": "https://my.website/done",
    "x-cos-server-side-encryption": "AES256", "policy": DOC_POLICY, "q-sign-algorithm": "sha1",
    "q-ak": DOC_AK, "q-key-time": DOC_KEY_TIME, "q-signature": DOC_SIGNATURE,
}

AK, SK = "AKIDPOSTEXAMPLE", "post-secret-key"
NOW = 1700000000.0
KT = "1699999940;1700003600"
BUCKET = "examplebucket-1250000000"


def policy_text(conditions: list[object], expiration: str = "2023-11-14T23:13:20Z") -> bytes:
    return json.dumps({"expiration": expiration, "conditions": conditions}).encode()


def signed_form(conditions: list[object], key_time: str = KT, **fields: str) -> dict[str, str]:
    """A form signed by following the documented steps with hashlib/hmac directly."""
    text = policy_text(conditions)
    sign_key_hex = hmac.new(SK.encode(), key_time.encode(), hashlib.sha1).hexdigest()
    digest = hashlib.sha1(text).hexdigest()
    signature = hmac.new(sign_key_hex.encode(), digest.encode(), hashlib.sha1).hexdigest()
    return {"key": "up/a.txt", "bucket": BUCKET, "policy": base64.b64encode(text).decode(),
            "q-sign-algorithm": "sha1", "q-ak": AK, "q-key-time": key_time,
            "q-signature": signature, **fields}


def base_conditions(**extra: object) -> list[object]:
    return [{"q-sign-algorithm": "sha1"}, {"q-ak": AK}, {"q-sign-time": KT}, {"bucket": BUCKET},
            ["starts-with", "$key", "up/"], *extra.values()]


def keys() -> Keyring:
    ring = Keyring()
    ring.add(AK, SK, "poster")
    ring.add(DOC_AK, DOC_SK, "doc-example")
    return ring


def run(form: dict[str, str], now: float = NOW):  # noqa: ANN201 - (Principal, Policy) | None
    return asyncio.run(authenticate(form, keys(), now))


def code_of(form: dict[str, str], now: float = NOW) -> tuple[int, str, str]:
    with pytest.raises(ShoalError) as err:
        run(form, now)
    return err.value.status, err.value.code, err.value.message


# -- the computation ----------------------------------------------------------------------------

def test_tencent_worked_example() -> None:
    text = base64.b64decode(DOC_POLICY)
    assert sign_key(DOC_SK, DOC_KEY_TIME) == DOC_SIGN_KEY
    assert string_to_sign(text) == DOC_STRING_TO_SIGN
    assert sign(DOC_SK, DOC_KEY_TIME, text) == DOC_SIGNATURE
    # Over the base64 field instead of the JSON text it decodes to, the signature differs.
    assert sign(DOC_SK, DOC_KEY_TIME, DOC_POLICY.encode()) != DOC_SIGNATURE


def test_tencent_worked_example_form_is_accepted() -> None:
    who, policy = run(DOC_FORM, DOC_NOW)
    assert who.access_key == DOC_AK
    assert policy.length_range is None


def test_independent_vector() -> None:
    """Computed here from the documented steps, not with the module's helpers."""
    text = b'{"expiration":"2030-01-01T00:00:00Z","conditions":[{"q-ak":"AKIDPOSTEXAMPLE"}]}'
    key_time = "1700000000;1700000900"
    step1 = hmac.new(b"post-secret-key", b"1700000000;1700000900", hashlib.sha1).hexdigest()
    step2 = hashlib.sha1(text).hexdigest()
    step3 = hmac.new(step1.encode(), step2.encode(), hashlib.sha1).hexdigest()
    assert sign(SK, key_time, text) == step3
    assert sign(SK, "1700000000;1700000901", text) != step3  # KeyTime is in the key
    assert sign(SK, key_time, text + b" ") != step3  # every byte of the text counts


def test_signed_form_round_trip() -> None:
    who, policy = run(signed_form(base_conditions()))
    assert (who.access_key, who.display_name) == (AK, "poster")
    assert ("key", "up/") in policy.prefix


def test_upper_case_hex_signature_is_accepted() -> None:
    form = signed_form(base_conditions())
    form["q-signature"] = form["q-signature"].upper()
    assert run(form) is not None


# -- which forms are COS-signed, and malformed ones -------------------------------------------

def test_forms_without_q_fields_are_not_cos_signed() -> None:
    assert parse({"key": "k", "bucket": BUCKET}) is None
    assert parse({"key": "k", "policy": "e30=", "awsaccesskeyid": AK, "signature": "x"}) is None
    assert run({"key": "k", "bucket": BUCKET}) is None


@pytest.mark.parametrize("name", ["policy", "q-sign-algorithm", "q-ak", "q-key-time",
                                  "q-signature"])
def test_missing_field_is_invalid_argument(name: str) -> None:
    form = signed_form(base_conditions())
    del form[name]
    status, code, message = code_of(form)
    assert (status, code) == (400, "InvalidArgument")
    assert f"'{name}'" in message


def test_parse_keeps_the_fields() -> None:
    form = signed_form(base_conditions())
    auth = parse(form)
    assert auth == PostAuth(AK, KT, form["q-signature"])


def test_other_algorithm_is_access_denied() -> None:
    form = signed_form(base_conditions(), **{"q-sign-algorithm": "sha256"})
    assert code_of(form)[:2] == (403, "AccessDenied")


def test_unparsable_key_time_is_access_denied() -> None:
    form = signed_form(base_conditions(), key_time="soon")
    assert code_of(form)[:2] == (403, "AccessDenied")


def test_bad_base64_or_json_is_invalid_policy() -> None:
    form = signed_form(base_conditions())
    form["policy"] = "bm90IGpzb24="  # "not json", correctly signed below
    text = base64.b64decode(form["policy"])
    form["q-signature"] = sign(SK, KT, text)
    assert code_of(form)[:2] == (400, "InvalidPolicyDocument")


# -- key, time, signature --------------------------------------------------------------------

def test_unknown_access_key() -> None:
    form = signed_form(base_conditions(), **{"q-ak": "AKIDNOBODY"})
    assert code_of(form)[:2] == (403, "InvalidAccessKeyId")


def test_wrong_signature() -> None:
    form = signed_form(base_conditions())
    form["q-signature"] = "0" * 40
    assert code_of(form) == (403, "SignatureDoesNotMatch",
                             "The Signature you specified is invalid.")


def test_signature_covers_the_policy() -> None:
    form = signed_form(base_conditions())
    other = policy_text([{"q-sign-algorithm": "sha1"}, {"q-ak": AK}, {"q-sign-time": KT}])
    form["policy"] = base64.b64encode(other).decode()  # widened policy, old signature
    assert code_of(form)[1] == "SignatureDoesNotMatch"


def test_wrong_secret() -> None:
    form = signed_form(base_conditions())
    text = base64.b64decode(form["policy"])
    form["q-signature"] = sign("not-the-secret", KT, text)
    assert code_of(form)[1] == "SignatureDoesNotMatch"


def test_expired_key_time() -> None:
    form = signed_form(base_conditions())
    status, code, message = code_of(form, now=1700003601.0)
    assert (status, code, message) == (403, "AccessDenied", "Request has expired")


def test_key_time_not_started() -> None:
    form = signed_form(base_conditions(), key_time="1700005000;1700009000")
    assert code_of(form)[:3] == (403, "AccessDenied", "Request is not valid yet")


def test_verify_directly() -> None:
    text = policy_text(base_conditions())
    good = PostAuth(AK, KT, sign(SK, KT, text))
    verify(good, SK, text, NOW)
    with pytest.raises(ShoalError):
        verify(PostAuth(AK, KT, good.signature[:-1] + "0"), SK, text, NOW)


# -- COS's policy rules -----------------------------------------------------------------------

@pytest.mark.parametrize("drop", ["q-sign-algorithm", "q-ak", "q-sign-time"])
def test_required_conditions(drop: str) -> None:
    conditions = [c for c in base_conditions() if not (isinstance(c, dict) and drop in c)]
    status, code, message = code_of(signed_form(conditions))
    assert (status, code) == (400, "InvalidPolicyDocument")
    assert drop in message


def test_required_conditions_must_be_exact() -> None:
    conditions = [{"q-sign-algorithm": "sha1"}, {"q-ak": AK}, ["starts-with", "$q-sign-time", ""]]
    assert code_of(signed_form(conditions))[:2] == (400, "InvalidPolicyDocument")


def test_q_sign_time_condition_is_the_forms_key_time() -> None:
    conditions = [{"q-sign-algorithm": "sha1"}, {"q-ak": AK}, {"q-sign-time": "1;2"}]
    status, code, message = code_of(signed_form(conditions))
    assert (status, code) == (403, "AccessDenied")
    assert message == "Condition key q-sign-time doesn't match the value 1;2"


def test_q_ak_condition_must_match_the_form() -> None:
    conditions = [{"q-sign-algorithm": "sha1"}, {"q-ak": "AKIDSOMEONEELSE"}, {"q-sign-time": KT}]
    status, code, message = code_of(signed_form(conditions))
    assert (status, code) == (403, "AccessDenied")
    assert message == "Condition key q-ak doesn't match the value AKIDSOMEONEELSE"


def test_fields_no_condition_mentions_are_allowed() -> None:
    form = signed_form(base_conditions(), **{"cache-control": "max-age=60",
                                             "x-cos-meta-note": "free",
                                             "x-cos-security-token": "token",
                                             "x-cos-forbid-overwrite": "true"})
    assert run(form) is not None


def test_limited_field_must_be_in_the_form() -> None:
    conditions = base_conditions(ct=["starts-with", "$content-type", ""])
    status, code, message = code_of(signed_form(conditions))
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith("Condition key content-type ")
    assert run(signed_form(conditions, **{"content-type": "text/plain"})) is not None


def test_key_prefix_and_exact_conditions() -> None:
    form = signed_form(base_conditions(acl={"acl": "public-read"}), key="elsewhere/a.txt",
                       acl="public-read")
    assert code_of(form)[2] == "Condition key key doesn't match the value up/"
    form = signed_form(base_conditions(acl={"acl": "public-read"}), acl="private")
    assert code_of(form)[2] == "Condition key acl doesn't match the value public-read"


def test_bucket_condition() -> None:
    form = signed_form(base_conditions(), bucket="otherbucket-1250000000")
    assert code_of(form)[2] == f"Condition key bucket doesn't match the value {BUCKET}"


def test_policy_expiration() -> None:
    text = policy_text(base_conditions(), expiration="2023-11-14T21:13:20Z")  # NOW - 3600
    form = {**signed_form(base_conditions()), "policy": base64.b64encode(text).decode(),
            "q-signature": sign(SK, KT, text)}
    status, code, message = code_of(form)
    assert (status, code) == (403, "AccessDenied")
    assert message == ("You post object request has been expired, expiration time: "
                       "1699996400 but the time now : 1700000000")


def test_check_policy_keeps_the_length_range() -> None:
    policy = parse_policy(policy_text(base_conditions(r=["content-length-range", 1, 10])))
    check_policy(policy, signed_form(base_conditions()), NOW)
    assert policy.length_range == (1, 10)
