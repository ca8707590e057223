"""ACL documents: canned ACLs and grants <-> AccessControlPolicy XML, and grant checks."""

from __future__ import annotations

import asyncio
from typing import Any

from ..core.auth import PERMISSIONS, Grant, expand_acl, group_name
from ..core.errors import ShoalError
from . import xmldoc
from .context import Ctx
from .dialect import Dialect
from .xmldoc import E, raw

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
MAX_GRANTS = 100
_MALFORMED = ("The XML you provided was not well-formed or did not validate against our "
              "published schema")


def grant_ids(acl: dict[str, Any] | None, owner: str, bucket_owner: str | None = None
              ) -> set[str]:
    """The canonical ids an ACL document names (its owner and user grantees)."""
    return {owner} | {g["id"] for g in expand_acl(acl, owner, bucket_owner) if g.get("id")}


def group_uri(grant: Grant, d: Dialect) -> str | None:
    """A group grantee's URI in the dialect's spelling (unknown URIs as stored)."""
    group = grant.get("group") or group_name(grant.get("uri", ""))
    if group is None:
        return grant.get("uri")
    if group == "LogDelivery":
        return d.group_uri_base.replace("/global/", "/s3/") + group
    return d.group_uri_base + group


def _grantee(grant: Grant, names: dict[str, str], d: Dialect) -> str:
    uri = group_uri(grant, d)
    if uri is not None:
        return f'<Grantee {XSI} xsi:type="Group">{E("URI", uri)}</Grantee>'
    if "email" in grant:
        return (f'<Grantee {XSI} xsi:type="AmazonCustomerByEmail">'
                f'{E("EmailAddress", grant["email"])}</Grantee>')
    user_id = grant["id"]
    return (f'<Grantee {XSI} xsi:type="CanonicalUser">{E("ID", user_id)}'
            f'{E("DisplayName", names.get(user_id, user_id))}</Grantee>')


def render(acl: dict[str, Any] | None, owner: str, owner_name: str, d: Dialect,
           bucket_owner: str | None = None) -> bytes:
    """The AccessControlPolicy of ``acl`` with only the owner's display name known."""
    return render_grants(expand_acl(acl, owner, bucket_owner), owner, {owner: owner_name}, d)


def render_grants(grants: list[Grant], owner: str, names: dict[str, str], d: Dialect) -> bytes:
    """An AccessControlPolicy document. Group grants come first, then the users' (each kind in
    stored order), for canned and explicit ACLs alike: the order S3-compatible servers use."""
    ordered = sorted(grants, key=lambda g: group_uri(g, d) is None)
    parts = [raw("Grant", _grantee(g, names, d) + E("Permission", g["permission"]))
             for g in ordered]
    owner_xml = raw("Owner", E("ID", owner) + E("DisplayName", names.get(owner, owner)))
    return d.xml("AccessControlPolicy", [owner_xml, raw("AccessControlList", "".join(parts))])


def grantee_id(value: str) -> str:
    """A user grantee's canonical id. COS spellings are accepted: ``qcs::cam::uin/A:uin/B`` and
    ``A/B`` (a sub-account B of A) name B; a plain id names itself."""
    value = value.strip()
    if value.startswith("qcs::cam::"):
        value = value.rsplit("uin/", 1)[-1]
    return value.rsplit("/", 1)[-1] if "/" in value else value


def parse(body: bytes) -> dict[str, Any]:
    """An AccessControlPolicy document -> {"grants": [...]}."""
    root = xmldoc.parse(body)
    if root.tag != "AccessControlPolicy":
        raise ShoalError("MalformedACLError", _MALFORMED)
    acl_el = root.find("AccessControlList")
    grants = [_parse_grant(g) for g in (acl_el.findall("Grant") if acl_el is not None else [])]
    if len(grants) > MAX_GRANTS:
        raise ShoalError("MalformedACLError", _MALFORMED)
    return {"grants": grants}


def _parse_grant(el: Any) -> Grant:
    perm = xmldoc.text(el, "Permission") or ""
    grantee = el.find("Grantee")
    if perm not in PERMISSIONS or grantee is None:
        raise ShoalError("MalformedACLError", _MALFORMED)
    if grantee.find("URI") is not None:
        return {"uri": (xmldoc.text(grantee, "URI") or "").strip(), "permission": perm}
    if grantee.find("EmailAddress") is not None:
        return {"email": (xmldoc.text(grantee, "EmailAddress") or "").strip(),
                "permission": perm}
    if grantee.find("ID") is not None:
        return {"id": grantee_id(xmldoc.text(grantee, "ID") or ""), "permission": perm}
    raise ShoalError("InvalidArgument", "Invalid grantee")


async def check_grants(ctx: Ctx, acl: dict[str, Any] | None) -> None:
    """Refuse grants Shoal cannot honour: unknown groups, ids of no account, e-mail addresses
    (accounts have none, so no address resolves). COS grantee ids are CAM uins, which may
    name accounts outside Shoal: the COS dialect does not check them."""
    check_ids = ctx.d.check_grantee_ids
    for g in (acl or {}).get("grants", []):
        if "uri" in g and group_name(g["uri"]) is None:
            raise ShoalError("InvalidArgument", "Invalid group uri", ArgumentName="uri",
                             ArgumentValue=g["uri"])
        if "email" in g:
            raise ShoalError("UnresolvableGrantByEmailAddress", "The e-mail address you "
                             "provided does not match any account on record.",
                             EmailAddress=g["email"])
        if "id" in g and check_ids and \
                not await asyncio.to_thread(ctx.core.names.exists, g["id"]):
            raise ShoalError("InvalidArgument", "Invalid id", ArgumentName="CanonicalUser/ID",
                             ArgumentValue=g["id"])


async def document(ctx: Ctx, acl: dict[str, Any] | None, owner: str,
                   bucket_owner: str | None = None) -> bytes:
    """The AccessControlPolicy of a bucket or object, with every owner's display name."""
    grants = expand_acl(acl, owner, bucket_owner)
    names = await ctx.display_names(grant_ids(acl, owner, bucket_owner))
    return render_grants(grants, owner, names, ctx.d)
