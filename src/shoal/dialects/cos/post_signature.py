"""COS POST Object form signature ("signature protection") and the policy rules that go with it.

Tencent documents both with the POST Object API, cloud.tencent.com/document/product/436/14690
(English: tencentcloud.com/document/product/436/14690, "Signature protection"):

    form fields   policy (base64 of the policy JSON), q-sign-algorithm (sha1), q-ak (SecretId),
                  q-key-time ("<start>;<end>"), q-signature; x-cos-security-token with temporary
                  keys (Shoal has none, so it is accepted and not checked, as on other requests)
    SignKey       = hex HMAC-SHA1(SecretKey, KeyTime)
    StringToSign  = hex SHA1(policy JSON text), the text the policy field's base64 decodes to
    Signature     = hex HMAC-SHA1(SignKey, StringToSign), the hex strings used as given

COS's policy rules are not S3's: the conditions must limit q-sign-algorithm, q-ak and
q-sign-time (exact match; q-sign-time holds the KeyTime, the form's q-key-time); every field a
condition limits, except bucket, must be in the form; a form field no condition mentions is
allowed (COS recommends limiting every field, it does not require it).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from ...api import postpolicy
from ...api.postpolicy import Policy
from ...core.auth import Keyring, Principal
from ...core.errors import ShoalError
from .signature import ALGORITHM, UNKNOWN_KEY, check_key_time, sign_key

# The signature's form fields, in the order COS lists them.
FIELDS = ("q-sign-algorithm", "q-ak", "q-key-time", "q-signature")
# Conditions a COS-signed policy must have (exact match).
REQUIRED_CONDITIONS = ("q-sign-algorithm", "q-ak", "q-sign-time")


@dataclass(frozen=True, slots=True)
class PostAuth:
    """The ``q-*`` fields of one form."""

    access_key: str
    key_time: str
    signature: str


def _missing(name: str) -> ShoalError:
    return ShoalError("InvalidArgument", f"Bucket POST must contain a field named '{name}'.",
                      ArgumentName=name, ArgumentValue="")


def parse(values: Mapping[str, str]) -> PostAuth | None:
    """The signature fields of a form (lower-case names); None when it has none of them."""
    if not any(name in values for name in FIELDS):
        return None
    for name in ("policy", *FIELDS):
        if not values.get(name):
            raise _missing(name)
    if values["q-sign-algorithm"] != ALGORITHM:
        raise ShoalError("AccessDenied", "q-sign-algorithm must be sha1")
    return PostAuth(values["q-ak"], values["q-key-time"], values["q-signature"].strip())


def string_to_sign(policy_text: bytes) -> str:
    """Hex SHA1 of the policy's JSON text."""
    return hashlib.sha1(policy_text).hexdigest()


def sign(secret: str, key_time: str, policy_text: bytes) -> str:
    """The form's q-signature for this policy text, key and KeyTime."""
    key = sign_key(secret, key_time).encode()
    return hmac.new(key, string_to_sign(policy_text).encode(), hashlib.sha1).hexdigest()


def verify(auth: PostAuth, secret: str, policy_text: bytes, now: float) -> None:
    """KeyTime window, then the signature (constant-time compare)."""
    check_key_time(auth.key_time, now)
    want = sign(secret, auth.key_time, policy_text)
    if not hmac.compare_digest(want.encode(), auth.signature.lower().encode()):
        raise ShoalError("SignatureDoesNotMatch", "The Signature you specified is invalid.")


def _failed(name: str, want: str) -> ShoalError:
    return ShoalError("AccessDenied", f"Condition key {name} doesn't match the value {want}")


def check_policy(policy: Policy, values: Mapping[str, str], now: float) -> None:
    """The form (lower-case names, ``key`` and ``bucket`` included) against COS's rules."""
    if now > policy.expiration:
        raise ShoalError("AccessDenied", "You post object request has been expired, expiration "
                         f"time: {int(policy.expiration)} but the time now : {int(now)}")
    limited = {name for name, _ in policy.exact}
    for name in REQUIRED_CONDITIONS:
        if name not in limited:
            raise ShoalError("InvalidPolicyDocument", "Invalid Policy: the conditions must "
                             f"limit {', '.join(REQUIRED_CONDITIONS)} (exact match); {name} "
                             "is missing.")
    form = {**values, "q-sign-time": values["q-key-time"]}
    for name, want in policy.exact:
        if form.get(name) != want:
            raise _failed(name, want)
    for name, start in policy.prefix:
        value = form.get(name)
        if value is None or not value.startswith(start):
            raise _failed(name, start)


async def authenticate(
    values: Mapping[str, str], keys: Keyring | None, now: float
) -> tuple[Principal, Policy] | None:
    """(signer, policy) of a COS-signed form after every check; None if it is not one."""
    auth = parse(values)
    if auth is None:
        return None
    found = await keys.lookup_async(auth.access_key) if keys is not None else None
    if found is None:
        raise ShoalError("InvalidAccessKeyId", UNKNOWN_KEY)
    secret, who = found
    text = postpolicy.text_of(values["policy"])
    verify(auth, secret, text, now)
    policy = postpolicy.parse(text)
    check_policy(policy, values, now)
    return who, policy
