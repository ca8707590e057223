"""Everything a handler gets: the request, its dialect, the core and the configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from ..config import Config
from ..core.auth import Keyring
from ..core.errors import ShoalError
from ..core.services import Core
from .dialect import Dialect
from .endpoints import Endpoint
from .request import Request
from .xmldoc import E


@dataclass(slots=True)
class Ctx:
    req: Request
    d: Dialect
    core: Core
    config: Config
    endpoint: Endpoint
    keys: Keyring | None = None  # the server's keyring (POST Object checks form signatures)

    @property
    def bucket(self) -> str:
        assert self.req.bucket is not None
        return self.req.bucket

    @property
    def key(self) -> str:
        assert self.req.key is not None
        return self.req.key

    @property
    def owner(self) -> str:
        return self.req.principal.user_id

    async def display_names(self, ids: Iterable[str]) -> dict[str, str]:
        """Canonical id -> display name for owners and grantees (the caller's own from the
        request; others from the accounts, an id without one as itself)."""
        p = self.req.principal
        want = {i for i in ids if i}
        found = {p.user_id: p.display_name} if p.user_id in want else {}
        known, missing = self.core.names.cached(want - found.keys())
        found.update(known)
        if missing:
            found.update(await asyncio.to_thread(self.core.names.load, missing))
        return found

    async def owner_xml(self, user_id: str) -> str:
        """``<ID>..</ID><DisplayName>..</DisplayName>`` of an owner (inside Owner/Initiator)."""
        name = (await self.display_names([user_id])).get(user_id, user_id)
        return E("ID", user_id) + E("DisplayName", name)

    def int_arg(self, name: str, default: int, lo: int = 0, hi: int | None = None) -> int:
        """An integer query parameter; out of range or not a number is InvalidArgument."""
        value = self.req.args.get(name)
        if value is None or value == "":
            return default
        try:
            n = int(value)
        except ValueError:
            n = -1
        if n < lo or (hi is not None and n > hi):
            if n >= lo and hi is not None:
                return hi
            raise ShoalError("InvalidArgument", f"Provided {name} not an integer or within "
                             "integer range", ArgumentName=name, ArgumentValue=value)
        return n
