"""The ``shoal`` command: ``shoal serve`` and the admin subcommands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TextIO

from . import admin, prefork
from .config import Config

if TYPE_CHECKING:
    import uvicorn

    from .core.fsck import FsckOptions, RepairResult, Report


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="listen address (SHOAL_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="listen port (SHOAL_PORT, default 9000)")
    p.add_argument("--data-dir", help="data directory (SHOAL_DATA_DIR, default ./shoal-data)")
    p.add_argument("--workers", type=int, help="worker processes (SHOAL_WORKERS, default: one per core, at most 4)")
    p.add_argument("--region", help="region name (SHOAL_REGION, default us-east-1)")
    p.add_argument("--domain", action="append", default=[],
                   help="S3 virtual-host base domain, repeatable (SHOAL_DOMAIN)")
    p.add_argument("--cos-domain", action="append", default=[],
                   help="COS virtual-host base domain, repeatable (SHOAL_COS_DOMAIN)")
    p.add_argument("--meta-dsn", help="metadata store: empty for SQLite in the data dir, or "
                   "postgresql://... (SHOAL_META_DSN)")
    p.add_argument("--log-level", help="debug, info, warning (SHOAL_LOG_LEVEL)")
    p.add_argument("--allow-insecure-ssec", action="store_true", default=None,
                   help="accept SSE-C (customer-provided keys) over plain HTTP, where the key "
                   "crosses the network in the clear (SHOAL_ALLOW_INSECURE_SSEC)")


def config_from_args(ns: argparse.Namespace) -> Config:
    cfg = Config.from_env()
    for attr in ("host", "port", "data_dir", "workers", "region", "meta_dsn", "log_level",
                 "allow_insecure_ssec"):
        value = getattr(ns, attr, None)
        if value is not None:
            setattr(cfg, attr, value)
    if ns.domain:
        cfg.domains = ns.domain
    if ns.cos_domain:
        cfg.cos_domains = ns.cos_domain
    cfg.data_dir = os.path.abspath(cfg.data_dir)
    return cfg


# Threads for the blocking calls the server makes (asyncio.to_thread: metadata reads and
# writes, file opens and reads). Most of their time is spent waiting on the disk or on the
# metadata writer's lock, not on a core, so there are many more of them than cores: asyncio's
# default (cores + 4) left requests queued behind writers waiting for a group commit.
IO_THREADS = 32


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop with a default executor sized for blocking I/O (see IO_THREADS). uvicorn calls
    it (``loop="shoal.cli:new_event_loop"``) in each worker process."""
    import uvloop

    loop = uvloop.new_event_loop()
    loop.set_default_executor(ThreadPoolExecutor(IO_THREADS, thread_name_prefix="shoal-io"))
    return loop


def serve(cfg: Config) -> None:
    """Run the server: in this process, or (``--workers`` > 1) in forked workers sharing one
    socket, forked before the server is imported (see ``prefork``)."""
    if cfg.dev_credentials:
        print("WARNING: SHOAL_ACCESS_KEY / SHOAL_SECRET_KEY are not set; using development "
              f"credentials\n  access key: {cfg.access_key}\n  secret key: {cfg.secret_key}",
              file=sys.stderr, flush=True)
    os.environ.update(cfg.to_env())
    print(f"shoal: serving S3 on http://{cfg.host}:{cfg.port} (data: {cfg.data_dir}, "
          f"workers: {cfg.workers})", file=sys.stderr, flush=True)
    if cfg.workers > 1:
        socks = prefork.bind(cfg.host, cfg.port, cfg.workers)
        sys.exit(prefork.run(cfg.workers, socks, lambda s: _server(cfg).run(sockets=[s])))
    else:
        _server(cfg).run()


def _server(cfg: Config) -> uvicorn.Server:
    import uvicorn

    from .httpserver import CanonicalHeaderProtocol

    return uvicorn.Server(uvicorn.Config(
        "shoal.app:create_app", factory=True, host=cfg.host, port=cfg.port,
        loop="shoal.cli:new_event_loop", http=CanonicalHeaderProtocol,
        log_level=cfg.log_level, access_log=False, server_header=False, date_header=False,
        timeout_keep_alive=30,
    ))


# -- fsck -------------------------------------------------------------------------------------
def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}")
    return value


def _fsck_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory (SHOAL_DATA_DIR, default ./shoal-data)")
    p.add_argument("--meta-dsn", help="metadata store, as for serve (SHOAL_META_DSN)")
    p.add_argument("--repair", action="store_true",
                   help="remove orphan blobs and temp files, abort stale uploads")
    p.add_argument("--no-verify-data", dest="verify_data", action="store_false",
                   help="do not read the data to compare its MD5 with the ETags")
    p.add_argument("--grace", type=_seconds, default=3600.0, metavar="SECONDS",
                   help="spare unreferenced blobs and temp files younger than this "
                   "(default 3600: a live server writes a blob just before its metadata)")
    p.add_argument("--stale-upload-age", type=_seconds, default=7 * 86400.0, metavar="SECONDS",
                   help="incomplete multipart uploads older than this are stale (default 7 days)")


def _human(n: int, unit: str) -> str:
    if unit != "B":
        return str(n)
    size, suffix = float(n), "B"
    for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or suffix == "TiB":
            break
        size /= 1024
    return f"{n} B" if suffix == "B" else f"{size:.1f} {suffix}"


def render_progress(phase: str, done: int, total: int | None, unit: str, width: int = 30) -> str:
    """``objects  [#####-----]  50%  1.0 MiB / 2.0 MiB``; just the count without a total."""
    if total is None:
        return f"{phase:<8} {_human(done, unit)}"
    frac = min(1.0, done / total) if total else 1.0
    bar = "#" * int(frac * width)
    return (f"{phase:<8} [{bar:-<{width}}] {frac * 100:3.0f}%  "
            f"{_human(done, unit)} / {_human(total, unit)}")


class ProgressBar:
    """One self-rewriting status line on a terminal, redrawn at most every ``interval`` s."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream, self.interval = stream, interval
        self._last = -interval
        self._shown = False

    def __call__(self, phase: str, done: int, total: int | None, unit: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and (total is None or done < total):
            return
        self._last = now
        self.stream.write("\r\x1b[K" + render_progress(phase, done, total, unit))
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _fsck_config(ns: argparse.Namespace) -> tuple[Config, str | None]:
    """The configuration, and why it does not point at Shoal data (None when it does)."""
    cfg = Config.from_env()
    cfg.data_dir = os.path.abspath(ns.data_dir or cfg.data_dir)
    if ns.meta_dsn is not None:
        cfg.meta_dsn = ns.meta_dsn
    if not os.path.isdir(os.path.join(cfg.data_dir, "blobs")):
        return cfg, f"{cfg.data_dir} is not a Shoal data directory (no blobs/)"
    if not cfg.meta_dsn.startswith(("postgres://", "postgresql://")):
        db = cfg.meta_dsn.removeprefix("sqlite://") or os.path.join(cfg.data_dir, "meta.db")
        if not os.path.isfile(db):
            return cfg, f"no metadata database at {db}"
    return cfg, None


def fsck(ns: argparse.Namespace) -> int:
    """``shoal fsck``: 0 when clean (or all repaired), 1 when problems remain, 2 on misuse."""
    from .app import open_meta
    from .core.fsck import FsckOptions, check, repair
    from .store.fs import FsBlobStore

    cfg, problem = _fsck_config(ns)
    if problem:
        print(f"shoal fsck: {problem}", file=sys.stderr)
        return 2
    opts = FsckOptions(verify_data=ns.verify_data, grace=ns.grace,
                        stale_upload_age=ns.stale_upload_age)
    meta = open_meta(cfg)
    if ns.verify_data and (os.environ.get("SHOAL_MASTER_KEY") or os.path.exists(
            os.path.join(cfg.data_dir, "master.key"))):
        from .core.kms import KeyService
        from .core.secrets import load_master_key

        opts.keys = KeyService(load_master_key(cfg.data_dir), meta)  # verify SSE-S3/KMS data
    try:
        blobs = FsBlobStore(cfg.data_dir)
        bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
        report = check(meta, blobs, opts, bar)
        if bar is not None:
            bar.close()
        for finding in report.findings:
            print(finding)
        result = repair(meta, blobs, report, opts) if ns.repair else None
    finally:
        meta.close()
    for line in fsck_summary(report, result, opts):
        print(line)
    return 1 if (report.findings if result is None else result.unrepaired) else 0


def fsck_summary(report: Report, result: RepairResult | None, opts: FsckOptions) -> list[str]:
    """The closing lines of ``shoal fsck``."""
    st = report.stats
    lines = [f"checked {st.buckets} buckets, {st.objects} objects, {st.uploads} uploads "
             f"({st.parts} parts), {st.blobs} blobs, {st.temp_files} temp files; "
             f"{_human(st.bytes_verified, 'B')} verified"]
    if st.unverified_encrypted:
        lines.append(f"{st.unverified_encrypted} encrypted objects or parts were size-checked "
                     "only (SSE-C data cannot be read without the customer's key)")
    if st.spared_blobs or st.spared_temp:
        lines.append(f"spared {st.spared_blobs} unreferenced blobs and {st.spared_temp} temp "
                     f"files younger than the {opts.grace:g} s grace period")
    counts = report.counts()
    found = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    lines.append(f"found: {found}" if found else "clean: no problems found")
    if result is not None:
        lines.append(f"repaired: aborted {result.aborted_uploads} stale uploads, removed "
                     f"{result.removed_blobs} blobs and {result.removed_temp} temp files")
        if result.kept_blobs:
            lines.append(f"kept {result.kept_blobs} blobs that became referenced meanwhile")
        if result.unrepaired:
            lines.append(f"not repaired: {len(result.unrepaired)} problems with object or part "
                         "data (missing, truncated or corrupt); restore or delete those objects")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="shoal", description="S3 and COS object storage")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_args(sub.add_parser("serve", help="run the server"))
    _fsck_args(sub.add_parser("fsck", help="check (and --repair) a data directory"))
    admin.add_parsers(sub)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if ns.command == "serve":
        serve(config_from_args(ns))
    elif ns.command == "fsck":
        sys.exit(fsck(ns))
    elif ns.command in admin.COMMANDS:
        sys.exit(admin.main(ns))


if __name__ == "__main__":
    main()
