"""ACL documents: canned ACLs and grants <-> AccessControlPolicy XML."""

from __future__ import annotations

from typing import Any

from ..core.errors import ShoalError
from . import xmldoc
from .dialect import Dialect
from .xmldoc import E, raw

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def expand(acl: dict[str, Any] | None, owner: str, d: Dialect,
           bucket_owner: str | None = None) -> list[dict[str, str]]:
    """Grants an ACL amounts to. For canned ACLs the group grants come first and the owner's
    FULL_CONTROL last, the order S3-compatible servers list them in."""
    acl = acl or {"canned": "private"}
    if "grants" in acl:
        return list(acl["grants"])
    canned = acl.get("canned", "private")
    owner_grant = {"id": owner, "permission": "FULL_CONTROL"}
    groups = [{"uri": d.group_uri_base + name, "permission": perm}
              for name, perm in _CANNED_GROUPS.get(canned, ())]
    extra: list[dict[str, str]] = []
    if canned in _BUCKET_OWNER_PERM and bucket_owner:
        extra.append({"id": bucket_owner, "permission": _BUCKET_OWNER_PERM[canned]})
    return groups + [owner_grant] + extra


_CANNED_GROUPS: dict[str, tuple[tuple[str, str], ...]] = {
    "public-read": (("AllUsers", "READ"),),
    "public-read-write": (("AllUsers", "READ"), ("AllUsers", "WRITE")),
    "authenticated-read": (("AuthenticatedUsers", "READ"),),
}
_BUCKET_OWNER_PERM = {"bucket-owner-read": "READ", "bucket-owner-full-control": "FULL_CONTROL"}


def render(acl: dict[str, Any] | None, owner: str, owner_name: str, d: Dialect,
           bucket_owner: str | None = None) -> bytes:
    parts = []
    # Group grants first, then the users' (each kind in stored order), for canned and explicit
    # ACLs alike: the order S3-compatible servers list them in.
    for g in sorted(expand(acl, owner, d, bucket_owner), key=lambda g: "uri" not in g):
        if "uri" in g:
            grantee = f'<Grantee {XSI} xsi:type="Group">{E("URI", g["uri"])}</Grantee>'
        elif "email" in g:
            grantee = (f'<Grantee {XSI} xsi:type="AmazonCustomerByEmail">'
                       f'{E("EmailAddress", g["email"])}</Grantee>')
        else:
            name = owner_name if g["id"] == owner else g.get("display_name", g["id"])
            grantee = (f'<Grantee {XSI} xsi:type="CanonicalUser">{E("ID", g["id"])}'
                       f'{E("DisplayName", name)}</Grantee>')
        parts.append(raw("Grant", grantee + E("Permission", g["permission"])))
    owner_xml = raw("Owner", E("ID", owner) + E("DisplayName", owner_name))
    return d.xml("AccessControlPolicy", [owner_xml, raw("AccessControlList", "".join(parts))])


PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")


def parse(body: bytes) -> dict[str, Any]:
    """An AccessControlPolicy document -> {"grants": [...]}."""
    root = xmldoc.parse(body)
    if root.tag != "AccessControlPolicy":
        raise ShoalError("MalformedACLError", "The XML you provided was not well-formed or did "
                         "not validate against our published schema")
    acl_el = root.find("AccessControlList")
    grants: list[dict[str, str]] = []
    for g in (acl_el.findall("Grant") if acl_el is not None else []):
        perm = xmldoc.text(g, "Permission") or ""
        grantee = g.find("Grantee")
        if perm not in PERMISSIONS or grantee is None:
            raise ShoalError("MalformedACLError", "The XML you provided was not well-formed or "
                             "did not validate against our published schema")
        entry: dict[str, str] = {"permission": perm}
        if grantee.find("URI") is not None:
            entry["uri"] = xmldoc.text(grantee, "URI") or ""
        elif grantee.find("EmailAddress") is not None:
            entry["email"] = xmldoc.text(grantee, "EmailAddress") or ""
        elif grantee.find("ID") is not None:
            entry["id"] = xmldoc.text(grantee, "ID") or ""
        else:
            raise ShoalError("InvalidArgument", "Invalid grantee")
        grants.append(entry)
    return {"grants": grants}
