"""The ``shoal`` command: ``shoal serve`` and the admin subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .config import Config


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="listen address (SHOAL_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (SHOAL_PORT, default 9000)")
    p.add_argument("--data-dir", help="data directory (SHOAL_DATA_DIR, default ./shoal-data)")
    p.add_argument("--workers", type=int, help="worker processes (SHOAL_WORKERS, default 1)")
    p.add_argument("--region", help="region name (SHOAL_REGION, default us-east-1)")
    p.add_argument("--domain", action="append", default=[],
                   help="S3 virtual-host base domain, repeatable (SHOAL_DOMAIN)")
    p.add_argument("--cos-domain", action="append", default=[],
                   help="COS virtual-host base domain, repeatable (SHOAL_COS_DOMAIN)")
    p.add_argument("--meta-dsn", help="metadata store: empty for SQLite in the data dir, or "
                   "postgresql://... (SHOAL_META_DSN)")
    p.add_argument("--log-level", help="debug, info, warning (SHOAL_LOG_LEVEL)")


def config_from_args(ns: argparse.Namespace) -> Config:
    cfg = Config.from_env()
    for attr in ("host", "port", "data_dir", "workers", "region", "meta_dsn", "log_level"):
        value = getattr(ns, attr, None)
        if value is not None:
            setattr(cfg, attr, value)
    if ns.domain:
        cfg.domains = ns.domain
    if ns.cos_domain:
        cfg.cos_domains = ns.cos_domain
    cfg.data_dir = os.path.abspath(cfg.data_dir)
    return cfg


def serve(cfg: Config) -> None:
    import uvicorn

    if cfg.dev_credentials:
        print("WARNING: SHOAL_ACCESS_KEY / SHOAL_SECRET_KEY are not set; using development "
              f"credentials\n  access key: {cfg.access_key}\n  secret key: {cfg.secret_key}",
              file=sys.stderr, flush=True)
    os.environ.update(cfg.to_env())
    print(f"shoal: serving S3 on http://{cfg.host}:{cfg.port} (data: {cfg.data_dir}, "
          f"workers: {cfg.workers})", file=sys.stderr, flush=True)
    uvicorn.run(
        "shoal.app:create_app", factory=True, host=cfg.host, port=cfg.port,
        workers=cfg.workers if cfg.workers > 1 else None, loop="uvloop", http="httptools",
        log_level=cfg.log_level, access_log=False, server_header=False, date_header=False,
        timeout_keep_alive=30,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shoal", description="S3 and COS object storage")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_args(sub.add_parser("serve", help="run the server"))
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if ns.command == "serve":
        serve(config_from_args(ns))


if __name__ == "__main__":
    main()
