"""COS host names: which hosts are COS, which bucket a host names, copy-source values.

Pure functions over strings (dialects.md sections 1, 2 and 7.4). A COS host is
``<bucket>-<appid>.cos.<region>.myqcloud.com``, the same under ``.tencentcos.cn``, or
``<bucket>.<base>`` for a configured base domain. The bucket is the first DNS label.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import unquote

from ...core.errors import ShoalError

# <bucket>.cos.<region>.myqcloud.com / .tencentcos.cn (region also "accelerate").
_COS_HOST = re.compile(r"^(?P<bucket>.+)\.cos\.[a-z0-9-]+\.(?:myqcloud\.com|tencentcos\.cn)$")
# Hosts of the service itself (GET Service), never a bucket.
_SERVICE_HOST = re.compile(
    r"^(?:service\.cos\.(?:myqcloud\.com|tencentcos\.cn)|cos\.[a-z0-9-]+\.(?:myqcloud\.com"
    r"|tencentcos\.cn))$"
)


def hostname(host: str) -> str:
    """``Host`` without ``:port``, lower case (IPv6 literals keep their brackets)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_candidates(host: str) -> list[str]:
    """The Host as received, then without the port: clients sign either form."""
    return list(dict.fromkeys([host, hostname(host) if host else host]))


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def cos_bucket(name: str, domains: Sequence[str]) -> str | None:
    """The bucket of a host that is certainly COS (well-known or configured domain), else None."""
    for domain in domains:
        if name.endswith("." + domain):
            return name[: -len(domain) - 1]
    m = _COS_HOST.match(name)
    return m.group("bucket") if m else None


def is_cos_host(host: str, domains: Sequence[str]) -> bool:
    """Does this Host belong to COS (a bucket host, a service host or a base domain)?"""
    name = hostname(host)
    return (cos_bucket(name, domains) is not None or name in domains
            or _SERVICE_HOST.match(name) is not None)


def bucket_from_host(host: str, domains: Sequence[str]) -> str | None:
    """The bucket a Host names, or None (IP address, service host, bare base domain...).

    Known COS domains give exactly the part before the domain. Any other name is taken as
    ``<bucket>.<custom endpoint>`` when it has at least three labels (or ``<bucket>.localhost``).
    """
    name = hostname(host)
    if not name or _is_ip(name) or name in domains or _SERVICE_HOST.match(name):
        return None
    bucket = cos_bucket(name, domains)
    if bucket is not None:
        return bucket
    labels = name.split(".")
    if len(labels) >= 3 or (len(labels) == 2 and labels[1] == "localhost"):
        return labels[0] or None
    return None


def parse_copy_source(value: str, domains: Sequence[str]) -> tuple[str, str, str | None]:
    """``x-cos-copy-source`` -> (bucket, key, version id).

    Accepts ``<bucket>.cos.<region>.myqcloud.com/<url-encoded key>[?versionId=v]`` (what the
    SDK sends), the same with a configured domain, and ``/bucket/key`` or ``bucket/key``.
    """
    raw, version = value.strip(), None
    if "?versionId=" in raw:
        raw, version = raw.split("?versionId=", 1)
    for scheme in ("http://", "https://"):
        raw = raw.removeprefix(scheme)
    head, _, rest = raw.lstrip("/").partition("/") if raw.startswith("/") else raw.partition("/")
    bucket = head
    if not raw.startswith("/") and "." in head:
        bucket = bucket_from_host(head, domains) or head
    key = unquote(rest)
    if not bucket or not key:
        raise ShoalError("InvalidArgument", "Invalid copy source object key",
                         ArgumentName="x-cos-copy-source", ArgumentValue=value)
    return bucket, key, version
