"""POST Object policies: the signed JSON document a browser-upload form carries.

The policy (base64 JSON) has an ``expiration`` and ``conditions``; every form field except the
signature fields, ``file``, ``policy``, ``x-ignore-*`` and the integrity checksums
(``x-amz-checksum-*``) must be allowed by a condition. Signed
either SigV2-style (``AWSAccessKeyId`` + base64 HMAC-SHA1) or SigV4-style (``x-amz-credential``
+ hex HMAC-SHA256 with the derived signing key), both over the base64 policy text. COS's own
form signature and its policy rules are the COS dialect's (dialects/cos/post_signature.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..core.errors import ShoalError

# Fields no condition needs to mention (lower case); x-ignore-* are exempt as well.
EXEMPT = frozenset({
    "policy", "signature", "awsaccesskeyid", "file", "x-amz-signature", "x-amz-credential",
    "x-amz-algorithm", "x-amz-date", "x-amz-security-token",
})


@dataclass(slots=True)
class Policy:
    expiration: float
    exact: list[tuple[str, str]] = field(default_factory=list)  # (field, value)
    prefix: list[tuple[str, str]] = field(default_factory=list)  # (field, starts-with)
    length_range: tuple[int, int] | None = None

    def mentions(self, name: str) -> bool:
        return any(f == name for f, _ in self.exact) or any(f == name for f, _ in self.prefix)


def _invalid(why: str) -> ShoalError:
    return ShoalError("InvalidPolicyDocument", f"Invalid Policy: {why}")


def _denied(why: str) -> ShoalError:
    return ShoalError("AccessDenied", f"Invalid according to Policy: {why}")


def decode(policy_b64: str) -> Policy:
    """Parse and validate the policy document (not its conditions against a form)."""
    return parse(text_of(policy_b64))


def text_of(policy_b64: str) -> bytes:
    """The policy document's JSON text, as the form's base64 carries it."""
    try:
        return base64.b64decode(policy_b64, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise _invalid("Invalid JSON.") from exc


def parse(text: bytes) -> Policy:
    """Parse and validate the policy's JSON text (not its conditions against a form)."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("Invalid JSON.") from exc
    if not isinstance(doc, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in doc:
        raise _invalid("Policy missing expiration.")
    if not isinstance(doc.get("conditions"), list):
        raise _invalid("Policy missing conditions.")
    policy = Policy(_expiration(doc["expiration"]))
    for cond in doc["conditions"]:
        _add_condition(policy, cond)
    return policy


def _expiration(value: Any) -> float:
    if not isinstance(value, str) or not value.endswith("Z") or " " in value:
        raise _invalid("Invalid 'expiration' value.")
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError as exc:
        raise _invalid("Invalid 'expiration' value.") from exc


def _add_condition(policy: Policy, cond: Any) -> None:
    if isinstance(cond, dict):
        if len(cond) != 1:
            raise _invalid("Invalid Condition.")
        (name, value), = cond.items()
        policy.exact.append((name.lower().lstrip("$"), str(value)))
        return
    if not isinstance(cond, list) or not cond or not isinstance(cond[0], str):
        raise _invalid("Invalid Condition.")
    op = cond[0].lower()
    if op == "content-length-range":
        if len(cond) != 3 or not all(isinstance(v, int) for v in cond[1:]) \
                or not 0 <= cond[1] <= cond[2]:
            raise _invalid("Invalid content-length-range.")
        policy.length_range = (cond[1], cond[2])
        return
    if op not in ("eq", "starts-with") or len(cond) != 3 or not isinstance(cond[1], str) \
            or not cond[1].startswith("$"):
        raise _invalid(f"Invalid Condition: {json.dumps(cond)[:200]}")
    target = policy.exact if op == "eq" else policy.prefix
    target.append((cond[1][1:].lower(), str(cond[2])))


def check(policy: Policy, values: dict[str, str], now: float | None = None) -> None:
    """The form (lower-case names -> values, ``bucket`` included) against the policy."""
    if (now or time.time()) > policy.expiration:
        raise _denied("Policy expired.")
    for name, want in policy.exact:
        if values.get(name) != want:
            raise _denied(f'Policy Condition failed: ["eq", "${name}", "{want}"]')
    for name, start in policy.prefix:
        if not values.get(name, "").startswith(start):
            raise _denied(f'Policy Condition failed: ["starts-with", "${name}", "{start}"]')
    for name in values:
        if name in EXEMPT or name.startswith(("x-ignore-", "x-amz-checksum-")) \
                or name == "bucket":
            continue
        if not policy.mentions(name):
            raise _denied(f'Extra input fields: {name}')


def signature_v2(secret: str, policy_b64: str) -> str:
    mac = hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def signature_v4(secret: str, credential: str, policy_b64: str) -> str:
    """``credential`` is ``AKID/yyyymmdd/region/service/aws4_request``."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise ShoalError("InvalidArgument", "Invalid x-amz-credential",
                         ArgumentName="x-amz-credential", ArgumentValue=credential)
    key = ("AWS4" + secret).encode()
    for piece in parts[1:]:
        key = hmac.new(key, piece.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
