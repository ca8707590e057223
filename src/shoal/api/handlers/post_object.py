"""POST Object: browser-based uploads with an HTML form (``POST /bucket``, multipart/form-data).

The form carries the key, the object's headers as fields, an optional signed policy and the
``file`` part. Without a policy the request is anonymous and needs a bucket that grants WRITE
to everyone; with one the signature names the caller and the policy must allow every field.
A dialect may sign forms its own way (COS: ``q-signature``, with COS's policy rules); the
dialect checks those (``post_form_auth``), the S3 ways (SigV2, SigV4) are checked here.
With COS, an ``x-cos-forbid-overwrite`` form field of "true" (any case) refuses to replace an
existing object, as on PUT; the request's own headers are not read for it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from urllib.parse import quote, urlencode

from ...core.auth import ANONYMOUS, Principal, acl_allows
from ...core.buckets import effective_acl
from ...core.conditions import WriteConditions
from ...core.errors import ShoalError
from .. import postpolicy, xmldoc
from ..body import expect_for
from ..context import Ctx
from ..formdata import Form, boundary_of, read_form
from ..headers import forbids_overwrite, object_meta
from ..response import Response
from ..sse import write_kek
from ..xmldoc import E
from .bucket_config import apply_bucket_settings
from .subresource import parse_tagging

# Form fields that are not object headers.
_NOT_HEADERS = frozenset({
    "key", "file", "policy", "signature", "awsaccesskeyid", "success_action_status",
    "success_action_redirect", "redirect", "tagging", "bucket",
})


async def post_object(ctx: Ctx) -> Response:
    req = ctx.req
    assert req.body is not None
    form = await read_form(req.body, boundary_of(req.headers.get("content-type", "")))
    key = form.get("key")
    if not key:
        raise ShoalError("InvalidArgument", "Bucket POST must contain a field named 'key'.  If "
                         "it is specified, please check the order of the fields.",
                         ArgumentName="key", ArgumentValue="")
    if form.file is None:
        raise ShoalError("InvalidArgument", "POST requires exactly one file upload per request.",
                         ArgumentName="file", ArgumentValue="0")
    key = key.replace("${filename}", (form.filename or "").rsplit("/", 1)[-1])
    values = {k.lower(): v for k, v in form.fields}
    values.update(key=key, bucket=ctx.bucket)
    who, policy = await _authenticate(ctx, form, values)
    bucket = await ctx.core.buckets.get(ctx.bucket)
    if not (who.admin or acl_allows(effective_acl(bucket, bucket.acl), bucket.owner, who,
                                    "WRITE")):
        raise ShoalError("AccessDenied")
    meta = object_meta(_field_request(ctx, values), ctx.d)
    await apply_bucket_settings(ctx, meta, ctx.bucket)
    kek = await write_kek(ctx, meta, _field_request(ctx, values))
    if values.get("tagging"):
        meta.tags = parse_tagging(values["tagging"].encode())
    expect = expect_for(_field_request(ctx, values))
    expect.max_size = ctx.config.max_put_size
    expect.seal = kek.seal if kek is not None else None
    body = _limited(form.file, policy.length_range if policy else None)
    owner = who.user_id or bucket.owner
    # Checked before the file is read and again as the object lands (as for PUT).
    when = WriteConditions(forbid_overwrite=forbids_overwrite(_field_request(ctx, values), ctx.d))
    record = await ctx.core.objects.put(ctx.bucket, key, meta, body, expect, owner, when)
    return _success(ctx, values, key, record.etag)


async def _authenticate(
    ctx: Ctx, form: Form, values: dict[str, str]
) -> tuple[Principal, postpolicy.Policy | None]:
    """Who signed the form (anonymous without a policy), after checking the policy."""
    signed = await ctx.d.post_form_auth(values, ctx.keys, time.time())
    if signed is not None:
        return signed
    policy_b64 = form.get("policy")
    access_key = form.get("AWSAccessKeyId")
    credential = form.get(ctx.d.h("credential"))
    if policy_b64 is None:
        if access_key or credential:
            raise ShoalError("InvalidArgument", "Bucket POST must contain a field named "
                             "'policy'.", ArgumentName="policy", ArgumentValue="")
        return ANONYMOUS, None
    if credential:
        access_key = credential.split("/", 1)[0]
        given = form.get(ctx.d.h("signature"))
    else:
        given = form.get("signature")
    if not access_key or not given:
        raise ShoalError("InvalidArgument", "Bucket POST must contain a field named "
                         "'AWSAccessKeyId' and 'signature' (or x-amz-credential and "
                         "x-amz-signature) when it has a policy.", ArgumentName="signature")
    found = await _lookup(ctx, access_key)
    if found is None:
        raise ShoalError("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    secret, who = found
    want = (postpolicy.signature_v4(secret, credential, policy_b64) if credential
            else postpolicy.signature_v2(secret, policy_b64))
    if not postpolicy.same(want, given.strip()):
        raise ShoalError("SignatureDoesNotMatch")
    policy = postpolicy.decode(policy_b64)
    postpolicy.check(policy, values)
    return who, policy


async def _lookup(ctx: Ctx, access_key: str) -> tuple[str, Principal] | None:
    """(secret, principal) of an access key, from the server's keyring."""
    if ctx.keys is None:
        return None
    return await ctx.keys.lookup_async(access_key)


def _field_request(ctx: Ctx, values: dict[str, str]):  # noqa: ANN202 - an api.request.Request
    """A view of the request whose headers are the form's header-like fields."""
    headers = {k: v for k, v in values.items() if k not in _NOT_HEADERS}
    if "acl" in headers:
        headers[ctx.d.h("acl")] = headers.pop("acl")
    return replace(ctx.req, headers=headers, state={})


async def _limited(
    source: AsyncIterator[bytes], length_range: tuple[int, int] | None
) -> AsyncIterator[bytes]:
    """The file's bytes, enforcing the policy's content-length-range."""
    total = 0
    async for chunk in source:
        total += len(chunk)
        if length_range is not None and total > length_range[1]:
            raise ShoalError("EntityTooLarge", ProposedSize=str(total),
                             MaxSizeAllowed=str(length_range[1]))
        yield chunk
    if length_range is not None and total < length_range[0]:
        raise ShoalError("EntityTooSmall", ProposedSize=str(total),
                         MinSizeAllowed=str(length_range[0]))


def _success(ctx: Ctx, values: dict[str, str], key: str, etag: str) -> Response:
    location = ctx.d.location(ctx.req, ctx.bucket, key)
    headers = {"ETag": f'"{etag}"', "Location": location}
    redirect = values.get("success_action_redirect") or values.get("redirect")
    if redirect:
        query = urlencode({"bucket": ctx.bucket, "key": key, "etag": f'"{etag}"'},
                          quote_via=quote)
        sep = "&" if "?" in redirect else "?"
        return Response.empty(303, dict(headers, Location=f"{redirect}{sep}{query}"))
    status = values.get("success_action_status")
    if status == "201":
        doc = xmldoc.doc("PostResponse", [E("Location", location), E("Bucket", ctx.bucket),
                                          E("Key", key), E("ETag", f'"{etag}"')], None)
        return Response.xml(doc, 201, headers)
    if status == "200":
        return Response.empty(200, headers)
    return Response.empty(204, headers)
