"""Composition root: stores -> core -> dialects -> ASGI app. Nothing imports this module."""

from __future__ import annotations

import gc
import os
import time
from functools import partial

from .api.dialect import Dialect
from .api.server import ShoalApp
from .background import LOCK_NAME, ProcessLock, sweep_forever
from .config import Config
from .core.accounts import AccountService
from .core.auth import Keyring
from .core.lifecycle_sweep import LifecycleSweeper
from .core.ports import Store
from .core.secrets import SecretBox, load_master_key
from .core.services import Core
from .dialects.cos.dialect import CosDialect
from .dialects.s3.dialect import S3Dialect
from .store.fs import FsBlobStore
from .store.sqlite import SqliteMetaStore

TEMP_MAX_AGE = 3600.0


def open_meta(config: Config) -> Store:
    """The metadata store (buckets, objects, uploads, accounts) the configuration names."""
    dsn = config.meta_dsn
    if dsn.startswith(("postgres://", "postgresql://")):
        from .store.postgres import PostgresMetaStore

        return PostgresMetaStore(dsn)
    path = dsn.removeprefix("sqlite://") if dsn else os.path.join(config.data_dir, "meta.db")
    return SqliteMetaStore(path)


def root_keys(config: Config) -> frozenset[str]:
    """The access keys of the root credentials (never given to accounts)."""
    return frozenset([config.access_key, *config.extra_keys])


def accounts(config: Config, meta: Store) -> AccountService:
    """Account operations over ``meta``, with the master key of the configuration."""
    box = SecretBox(load_master_key(config.data_dir))
    return AccountService(meta, box, root_keys(config))


def keyring(config: Config, users: AccountService | None = None) -> Keyring:
    """Root credentials from the configuration, then the accounts' keys from the store."""
    keys = Keyring(users.resolve if users is not None else None)
    keys.add(config.access_key, config.secret_key, "root", admin=True)
    for ak, sk in config.extra_keys.items():
        keys.add(ak, sk, "root", admin=True)
    return keys


def dialects(config: Config) -> list[Dialect]:
    """COS first (it claims only COS-signed requests and COS hosts); S3 is the fallback."""
    return [CosDialect(config.cos_domains, config.cos_min_part_size),
            S3Dialect(config.domains, config.s3_min_part_size)]


GC_GEN0 = 20_000


def build(config: Config) -> ShoalApp:
    os.makedirs(config.data_dir, exist_ok=True)
    meta = open_meta(config)
    blobs = FsBlobStore(config.data_dir)
    blobs.sweep_temp(time.time() - TEMP_MAX_AGE)
    users = accounts(config, meta)
    core = Core.build(meta, blobs, users)
    keys = keyring(config, users)
    sweeper = LifecycleSweeper(core, config.lifecycle_day)
    lock = ProcessLock(os.path.join(config.data_dir, LOCK_NAME))
    sweeps = partial(sweep_forever, sweeper, lock, config.lifecycle_interval)
    return ShoalApp(core, dialects(config), keys, config, on_shutdown=meta.close,
                    background=[sweeps])


def create_app() -> ShoalApp:
    """Factory used by the ASGI server in every worker process (config from SHOAL_*)."""
    app = build(Config.from_env())
    # What is loaded now lives as long as the process: keep it out of every garbage
    # collection pass that requests trigger.
    gc.collect()
    gc.freeze()
    # A request allocates a few hundred container objects, nearly all freed by reference
    # counting when it ends; with the default threshold (700) the collector ran every couple
    # of requests and traversed the objects of every request in flight.
    gc.set_threshold(GC_GEN0, *gc.get_threshold()[1:])
    return app
