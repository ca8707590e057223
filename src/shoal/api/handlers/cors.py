"""Bucket CORS: the ``?cors`` configuration, OPTIONS preflight, and the Access-Control-*
headers added to ordinary responses of requests that carry an Origin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ...core.errors import ShoalError
from ...core.services import Core
from .. import cors
from ..body import read_document
from ..context import Ctx
from ..request import Request
from ..response import Response

Handler = Callable[[Ctx], Awaitable[Response]]



async def get_bucket_cors(ctx: Ctx) -> Response:
    bucket = await ctx.core.buckets.get(ctx.bucket)
    rules = bucket.config.get("cors")
    if not rules:
        raise ShoalError("NoSuchCORSConfiguration", "The CORS configuration does not exist",
                             BucketName=ctx.bucket)
    return Response.xml(ctx.d.xml("CORSConfiguration", cors.render(rules)))


async def put_bucket_cors(ctx: Ctx) -> Response:
    rules = cors.parse(await read_document(ctx.req))
    await ctx.core.buckets.set_config(ctx.bucket, "cors", rules)
    return Response.empty(200)


async def delete_bucket_cors(ctx: Ctx) -> Response:
    await ctx.core.buckets.set_config(ctx.bucket, "cors", None)
    return Response.empty(204)


def _requested_headers(ctx: Ctx) -> list[str]:
    value = ctx.req.headers.get("access-control-request-headers", "")
    return [h.strip() for h in value.split(",") if h.strip()]


async def preflight(ctx: Ctx) -> Response:
    """OPTIONS: answer whether the bucket's CORS rules allow the announced request."""
    origin = ctx.req.headers.get("origin")
    method = ctx.req.headers.get("access-control-request-method")
    if not origin or not method:
        raise ShoalError("BadRequest", "Insufficient information. Origin request header "
                         "needed." if not origin else "Invalid Access-Control-Request-Method")
    bucket = await ctx.core.buckets.get(ctx.bucket)
    rules = bucket.config.get("cors")
    if not rules:
        raise ShoalError("AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.")
    wanted = _requested_headers(ctx)
    rule = cors.match(rules, origin, method, wanted)
    if rule is None:
        raise ShoalError("AccessForbidden", "CORSResponse: This CORS request is not allowed. "
                         "This is usually because the evalution of Origin, request method / "
                         "Access-Control-Request-Method or Access-Control-Request-Headers are "
                         "not whitelisted by the resource's CORS spec.")
    return Response.empty(200, cors.response_headers(rule, origin, preflight=True,
                                                     requested_headers=wanted))


def with_cors(handler: Handler) -> Handler:
    """Wrap a handler: a request with an Origin gets the matching rule's headers."""

    async def wrapped(ctx: Ctx) -> Response:
        resp = await handler(ctx)
        origin = ctx.req.headers.get("origin")
        if origin and ctx.req.bucket:
            resp.headers.update(await cors_headers(ctx.core, ctx.req, origin))
        return resp

    wrapped.__name__ = getattr(handler, "__name__", "handler")
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def cors_headers(core: Core, req: Request, origin: str) -> dict[str, str]:
    """The headers of the bucket's CORS rule that matches ``origin`` and the method (none when
    no rule does)."""
    bucket = await core.buckets.lookup(req.bucket)
    rules = bucket.config.get("cors") if bucket is not None else None
    if not rules:
        return {}
    method = req.headers.get("access-control-request-method") or req.method
    rule = cors.match(rules, origin, method)
    return cors.response_headers(rule, origin) if rule is not None else {}


async def error_cors_headers(core: Core, req: Request) -> dict[str, str]:
    """CORS headers for an error answer to an actual (not preflight) request from a browser:
    like a success, it must carry them for the page's script to read the error."""
    origin = req.headers.get("origin")
    if not origin or not req.bucket or req.method == "OPTIONS":
        return {}
    try:
        return await cors_headers(core, req, origin)
    except ShoalError:
        return {}
