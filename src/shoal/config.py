"""Runtime configuration: one dataclass, filled from CLI flags and SHOAL_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

MAX_DEFAULT_WORKERS = 4


def default_workers() -> int:
    """One worker process per core this process may run on, at most MAX_DEFAULT_WORKERS: a
    worker runs Python on one core at a time (its threads share one interpreter lock), so a
    single process leaves the other cores to the kernel's share of the work. More than a few
    cost memory (~45 MiB each) for little more throughput: ``--workers`` sets any number."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_WORKERS))


DEV_ACCESS_KEY = "shoaladmin"
DEV_SECRET_KEY = "shoaladmin-secret-key"


@dataclass(slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 9000
    data_dir: str = "./shoal-data"
    workers: int = field(default_factory=default_workers)
    region: str = "us-east-1"
    domains: list[str] = field(default_factory=list)  # S3 virtual-host base domains
    cos_domains: list[str] = field(default_factory=list)  # COS virtual-host base domains
    access_key: str = DEV_ACCESS_KEY
    secret_key: str = DEV_SECRET_KEY
    dev_credentials: bool = True
    meta_dsn: str = ""  # "" = sqlite file in the data dir; "postgresql://..." = PostgreSQL
    s3_min_part_size: int = 5 * 1024 * 1024
    cos_min_part_size: int = 1024 * 1024
    max_object_size: int = 5 * 1024**4
    max_put_size: int = 5 * 1024**3
    log_level: str = "info"
    extra_keys: dict[str, str] = field(default_factory=dict)  # access key -> secret key
    # SSE-C over plain HTTP: the customer's key crosses the network in the clear (README).
    allow_insecure_ssec: bool = False
    lifecycle_interval: float = 3600.0  # seconds between two lifecycle sweeps
    lifecycle_day: float = 86400.0  # the length of a lifecycle "day" (shorter in tests)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        cfg = cls()
        cfg.host = env.get("SHOAL_HOST", cfg.host)
        cfg.port = int(env.get("SHOAL_PORT", cfg.port))
        cfg.data_dir = env.get("SHOAL_DATA_DIR", cfg.data_dir)
        cfg.workers = int(env.get("SHOAL_WORKERS", cfg.workers))
        cfg.region = env.get("SHOAL_REGION", cfg.region)
        cfg.domains = _split(env.get("SHOAL_DOMAIN", ""))
        cfg.cos_domains = _split(env.get("SHOAL_COS_DOMAIN", ""))
        cfg.meta_dsn = env.get("SHOAL_META_DSN", "")
        cfg.log_level = env.get("SHOAL_LOG_LEVEL", cfg.log_level)
        cfg.allow_insecure_ssec = _flag(env.get("SHOAL_ALLOW_INSECURE_SSEC", ""))
        cfg.lifecycle_interval = _seconds(env, "SHOAL_LIFECYCLE_INTERVAL", cfg.lifecycle_interval)
        cfg.lifecycle_day = _seconds(env, "SHOAL_LIFECYCLE_DAY_SECONDS", cfg.lifecycle_day)
        ak, sk = env.get("SHOAL_ACCESS_KEY"), env.get("SHOAL_SECRET_KEY")
        if ak and sk:
            cfg.access_key, cfg.secret_key, cfg.dev_credentials = ak, sk, False
        # SHOAL_EXTRA_KEYS="AK1:SK1,AK2:SK2": more root-equivalent keys (until accounts exist).
        for pair in _split(env.get("SHOAL_EXTRA_KEYS", "")):
            if ":" in pair:
                k, s = pair.split(":", 1)
                cfg.extra_keys[k] = s
        return cfg

    def to_env(self) -> dict[str, str]:
        """The same configuration as SHOAL_* variables (handed to worker processes)."""
        env = {
            "SHOAL_HOST": self.host,
            "SHOAL_PORT": str(self.port),
            "SHOAL_DATA_DIR": self.data_dir,
            "SHOAL_WORKERS": str(self.workers),
            "SHOAL_REGION": self.region,
            "SHOAL_DOMAIN": ",".join(self.domains),
            "SHOAL_COS_DOMAIN": ",".join(self.cos_domains),
            "SHOAL_META_DSN": self.meta_dsn,
            "SHOAL_LOG_LEVEL": self.log_level,
            "SHOAL_EXTRA_KEYS": ",".join(f"{k}:{s}" for k, s in self.extra_keys.items()),
            "SHOAL_ALLOW_INSECURE_SSEC": "1" if self.allow_insecure_ssec else "",
            "SHOAL_LIFECYCLE_INTERVAL": repr(self.lifecycle_interval),
            "SHOAL_LIFECYCLE_DAY_SECONDS": repr(self.lifecycle_day),
        }
        if not self.dev_credentials:
            env["SHOAL_ACCESS_KEY"] = self.access_key
            env["SHOAL_SECRET_KEY"] = self.secret_key
        return env


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    """A positive number of seconds from ``env[name]`` (absent or empty: ``default``)."""
    text = env.get(name, "").strip()
    if not text:
        return default
    value = float(text)
    if not value > 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {text!r}")
    return value


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]
