"""``shoal user ...``, ``shoal key ...`` and ``shoal kms ...``: account and KMS key
administration on a data directory.

They open the metadata store exactly as the server does (``--data-dir``, ``--meta-dsn`` and the
SHOAL_* variables) and may run while a server uses it: keys created or revoked here take effect
in the server within its key-cache lifetime (about 2 s). Exit status: 0 done, 1 refused (e.g. no
such user), 2 misuse. With ``--json`` the result (or ``{"error": ..., "message": ...}``) is one
JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .config import Config
from .core.accounts import AccessKey, AccountError, AccountService, NewKey, User
from .core.kms import KmsKey
from .core.ports import Store
from .core.secrets import SecretError

COMMANDS = ("user", "key", "kms")
Result = dict[str, Any] | list[dict[str, Any]]


# -- arguments --------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (SHOAL_DATA_DIR, default ./shoal-data)")
    p.add_argument("--meta-dsn", help="metadata store, as for serve (SHOAL_META_DSN)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _key_pair(p: argparse.ArgumentParser) -> None:
    p.add_argument("--access-key", help="use this access key (default: generate one)")
    p.add_argument("--secret-key", help="use this secret key (with --access-key)")


def add_parsers(sub: Any) -> None:
    """Register ``user`` and ``key`` on the ``shoal`` subcommand parser."""
    user = sub.add_parser("user", help="manage accounts").add_subparsers(dest="action",
                                                                          required=True)
    p = user.add_parser("add", help="create a user with one access key")
    p.add_argument("name")
    p.add_argument("--display-name", help="owner display name (default: the user name)")
    _key_pair(p)
    _common(p)
    p = user.add_parser("list", help="list users")
    _common(p)
    p = user.add_parser("remove", help="delete a user and its keys")
    p.add_argument("name")
    p.add_argument("--force", action="store_true",
                   help="even if it owns buckets (they stay, reachable by root only)")
    _common(p)
    key = sub.add_parser("key", help="manage access keys").add_subparsers(dest="action",
                                                                          required=True)
    p = key.add_parser("create", help="add an access key to a user")
    p.add_argument("name", help="user name")
    _key_pair(p)
    _common(p)
    p = key.add_parser("list", help="list access keys")
    p.add_argument("name", nargs="?", help="only this user's keys")
    _common(p)
    p = key.add_parser("revoke", help="deactivate an access key")
    p.add_argument("access_key")
    _common(p)
    kms = sub.add_parser("kms", help="manage KMS keys (SSE-KMS)").add_subparsers(
        dest="action", required=True)
    p = kms.add_parser("create", help="create a named key for SSE-KMS")
    p.add_argument("--id", dest="key_id", help="the key id (default: a random UUID)")
    _common(p)
    p = kms.add_parser("list", help="list KMS keys (ids only, never key material)")
    _common(p)


# -- output -----------------------------------------------------------------------------------
def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_json(user: User) -> dict[str, Any]:
    return {"name": user.name, "canonical_id": user.user_id,
            "display_name": user.display_name, "created": _iso(user.created)}


def key_json(key: AccessKey, user: User | None) -> dict[str, Any]:
    return {"access_key": key.access_key, "user": user.name if user else None,
            "canonical_id": key.user_id, "active": key.active, "created": _iso(key.created)}


def new_key_json(new: NewKey) -> dict[str, Any]:
    return {"user": user_json(new.user), "access_key": new.access_key,
            "secret_key": new.secret_key, "created": _iso(new.created)}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def render(command: str, result: Result) -> str:
    """The human-readable form of a command's JSON result."""
    if command in ("user add", "key create"):
        assert isinstance(result, dict)
        user = result["user"]
        return (f"user:          {user['name']}\ncanonical id:  {user['canonical_id']}\n"
                f"display name:  {user['display_name']}\naccess key:    {result['access_key']}\n"
                f"secret key:    {result['secret_key']}\n"
                "(the secret key is shown only now)")
    if command == "user list":
        assert isinstance(result, list)
        rows = [["NAME", "CANONICAL ID", "DISPLAY NAME", "KEYS", "CREATED"]]
        rows += [[u["name"], u["canonical_id"], u["display_name"], str(u["active_keys"]),
                  u["created"]] for u in result]
        return _table(rows)
    if command == "key list":
        assert isinstance(result, list)
        rows = [["ACCESS KEY", "USER", "STATUS", "CREATED"]]
        rows += [[k["access_key"], k["user"] or "-", "active" if k["active"] else "revoked",
                  k["created"]] for k in result]
        return _table(rows)
    if command == "user remove":
        assert isinstance(result, dict)
        return (f"removed user {result['user']['name']} and {len(result['access_keys'])} "
                f"access key(s)" + (f"; its buckets stay: {', '.join(result['buckets'])}"
                                    if result["buckets"] else ""))
    assert isinstance(result, dict)  # key revoke
    return f"revoked access key {result['access_key']} of user {result['user'] or '-'}"


# -- commands ---------------------------------------------------------------------------------
def _user_add(svc: AccountService, ns: argparse.Namespace) -> Result:
    return new_key_json(svc.add_user(ns.name, ns.display_name, ns.access_key, ns.secret_key))


def _user_list(svc: AccountService, ns: argparse.Namespace) -> Result:
    active: dict[str, int] = {}
    for key, user in svc.list_keys():
        active[user.user_id] = active.get(user.user_id, 0) + key.active
    return [user_json(u) | {"active_keys": active.get(u.user_id, 0)} for u in svc.list_users()]


def _user_remove(svc: AccountService, ns: argparse.Namespace) -> Result:
    buckets = [b.name for b in svc.store.list_buckets(svc.user(ns.name).user_id)]
    user, keys = svc.remove_user(ns.name, ns.force)
    return {"user": user_json(user), "access_keys": [k.access_key for k in keys],
            "buckets": buckets}


def _key_create(svc: AccountService, ns: argparse.Namespace) -> Result:
    return new_key_json(svc.create_key(ns.name, ns.access_key, ns.secret_key))


def _key_list(svc: AccountService, ns: argparse.Namespace) -> Result:
    return [key_json(k, u) for k, u in svc.list_keys(ns.name)]


def _key_revoke(svc: AccountService, ns: argparse.Namespace) -> Result:
    key, user = svc.revoke_key(ns.access_key)
    return key_json(key, user) | {"active": False, "was_active": key.active}


HANDLERS: dict[str, Callable[[AccountService, argparse.Namespace], Result]] = {
    "user add": _user_add, "user list": _user_list, "user remove": _user_remove,
    "key create": _key_create, "key list": _key_list, "key revoke": _key_revoke,
}
NEEDS_MASTER_KEY = ("user add", "key create")


# -- running ----------------------------------------------------------------------------------
def admin_config(ns: argparse.Namespace) -> Config:
    cfg = Config.from_env()
    cfg.data_dir = os.path.abspath(ns.data_dir or cfg.data_dir)
    if ns.meta_dsn is not None:
        cfg.meta_dsn = ns.meta_dsn
    return cfg


def _missing_store(cfg: Config) -> str | None:
    """Why there is no store to administer (only ``user add`` may start a new one)."""
    if cfg.meta_dsn.startswith(("postgres://", "postgresql://")):
        return None
    db = cfg.meta_dsn.removeprefix("sqlite://") or os.path.join(cfg.data_dir, "meta.db")
    return None if os.path.isfile(db) else f"no metadata database at {db}"


def _service(cfg: Config, meta: Store, command: str) -> AccountService:
    from .app import accounts, root_keys

    if command in NEEDS_MASTER_KEY:
        return accounts(cfg, meta)
    return AccountService(meta, None, root_keys(cfg))


def _fail(ns: argparse.Namespace, command: str, code: str, message: str) -> int:
    if ns.json:
        print(json.dumps({"error": code, "message": message}))
    else:
        print(f"shoal {command}: {message}", file=sys.stderr)
    return 1


def kms_json(key: KmsKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "created": _iso(key.created)}


def _kms(cfg: Config, meta: Store, ns: argparse.Namespace) -> Result:
    """``kms create`` / ``kms list`` (key material is never shown)."""
    from .core.kms import KeyService
    from .core.secrets import load_master_key

    svc = KeyService(load_master_key(cfg.data_dir), meta)  # type: ignore[arg-type]
    if ns.action == "create":
        return kms_json(svc.create(ns.key_id))
    return [kms_json(k) for k in svc.list_keys()]


def _render_kms(action: str, result: Result) -> str:
    if action == "create":
        assert isinstance(result, dict)
        return f"key id:   {result['key_id']}\ncreated:  {result['created']}"
    assert isinstance(result, list)
    return _table([["KEY ID", "CREATED"]] + [[k["key_id"], k["created"]] for k in result])


def _run(ns: argparse.Namespace, command: str, creates: bool,
         action: Callable[[Config, Store], Result], errors: tuple[type[Exception], ...],
         render_result: Callable[[Result], str]) -> int:
    """Open the stores the configuration names (only ``creates`` may start a new data dir),
    run ``action`` and print its result; returns the exit status."""
    from .app import open_meta

    cfg = admin_config(ns)
    problem = None if creates else _missing_store(cfg)
    if problem:
        return _fail(ns, command, "NoStore", problem)
    os.makedirs(cfg.data_dir, exist_ok=True)
    meta = open_meta(cfg)
    try:
        result = action(cfg, meta)
    except errors as err:
        return _fail(ns, command, getattr(err, "code", "Error"), getattr(err, "message", str(err)))
    except SecretError as err:
        return _fail(ns, command, "MasterKey", str(err))
    finally:
        meta.close()
    print(json.dumps(result, indent=2) if ns.json else render_result(result))
    return 0


def main(ns: argparse.Namespace) -> int:
    """Run ``shoal user|key|kms ACTION``; returns the exit status."""
    from .core.kms import KmsError

    command = f"{ns.command} {ns.action}"
    if ns.command == "kms":
        return _run(ns, command, command == "kms create", lambda cfg, meta: _kms(cfg, meta, ns),
                    (KmsError,), lambda result: _render_kms(ns.action, result))
    return _run(ns, command, command == "user add",
                lambda cfg, meta: HANDLERS[command](_service(cfg, meta, command), ns),
                (AccountError,), lambda result: render(command, result))
