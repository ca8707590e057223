"""ACL documents: canned ACLs and grants <-> AccessControlPolicy XML."""

from __future__ import annotations

from typing import Any

from ..core.errors import ShoalError
from . import xmldoc
from .dialect import Dialect
from .xmldoc import E, raw

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def expand(acl: dict[str, Any] | None, owner: str, d: Dialect) -> list[dict[str, str]]:
    """Grants an ACL amounts to, owner's FULL_CONTROL first for canned ACLs."""
    acl = acl or {"canned": "private"}
    if "grants" in acl:
        return list(acl["grants"])
    canned = acl.get("canned", "private")
    grants = [{"id": owner, "permission": "FULL_CONTROL"}]
    all_users = d.group_uri_base + "AllUsers"
    if canned in ("public-read", "public-read-write"):
        grants.append({"uri": all_users, "permission": "READ"})
    if canned == "public-read-write":
        grants.append({"uri": all_users, "permission": "WRITE"})
    if canned == "authenticated-read":
        grants.append({"uri": d.group_uri_base + "AuthenticatedUsers", "permission": "READ"})
    return grants


def render(acl: dict[str, Any] | None, owner: str, owner_name: str, d: Dialect) -> bytes:
    parts = []
    for g in expand(acl, owner, d):
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
