"""Everything a handler gets: the request, its dialect, the core and the configuration."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..core.errors import ShoalError
from ..core.services import Core
from .dialect import Dialect
from .endpoints import Endpoint
from .request import Request


@dataclass(slots=True)
class Ctx:
    req: Request
    d: Dialect
    core: Core
    config: Config
    endpoint: Endpoint

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
