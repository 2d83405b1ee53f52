"""Settings: every `EDGE_*` environment variable, parsed once into a frozen `Settings`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.core.loyalty import DEFAULT_TIERS, TierThresholds
from edge.core.sessions import SessionPolicy
from edge.errors import ConfigError
from edge.http.auth import parse_keys

PACKAGE_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Edge process. Tests build these directly."""

    redis_url: str | None = None  # unset = embedded in-process store; redis+cluster://host:port = a Redis Cluster
    redis_prefix: str = "edge"
    redis_timeout_ms: float = 25.0  # socket connect/read timeout of one Redis call
    redis_pool_size: int = 64
    artifacts: Path = Path("artifacts")
    build_if_missing: bool = True  # build the synthetic demo store on first start
    admin_token: str | None = None  # unset = admin endpoints disabled
    api_keys: str | None = None  # name:secret[:scope...],... or a file of them (edge/http/auth.py); unset = open
    cors_origins: str | None = None  # browser origins allowed to call decide/events anonymously without a key
    content: Path = field(default_factory=lambda: PACKAGE_DATA / "content.yaml")
    experiments: Path | None = None
    data: Path | None = None  # real interaction data for `edge build --data`
    deadline_ms: float = 50.0  # a decision's budget for its dependencies
    max_body_bytes: int = 65536
    faiss_threads: int = 1
    ttl_s: int = 60  # how long a storefront may cache a decision
    log_level: str = "info"
    session_ttl_s: int = 1800  # a session is forgotten after this long without events
    session_max_viewed: int = 50  # viewed products kept per session (most recent)
    events_maxlen: int = 200_000  # event stream entries kept (XADD MAXLEN ~, spread over the partitions)
    exposures_maxlen: int = 200_000  # exposure log entries kept (likewise)
    events_timeout_ms: float = 1000.0  # how long POST /v1/events waits for the store before answering 503
    events_max_body_bytes: int = 262144  # body limit of POST /v1/events (500 events of ~500 bytes)
    tier_thresholds: tuple[float, float, float] = DEFAULT_TIERS.as_args()  # spend for silver, gold, platinum
    watch_s: float = 2.0  # poll content/experiments/artifacts for changes this often; 0 = only on reload
    redis_wait_replicas: int = 0  # writes wait (WAIT) for this many replicas before a 202; 0 = the primary alone
    max_header_bytes: int = 16384  # request line + headers over this are a 431 (`edge serve`, edge/http/limits.py)
    read_timeout_s: float = 10.0  # a request's head and body must arrive within this, else 408 and close
    offer_secret: str | None = None  # HMAC key of per-person offer codes (unset = offers keep their shared code)
    access_log: bool = False  # uvicorn's access log (one line per request)
    demo: bool | None = None  # the demo storefront at /demo; None (auto) = on with the embedded store only
    kernels: bool = True  # the learned ranker's compiled core (edge._kernels) where it was built; off = its numpy code

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `EDGE_<FIELD>` variables; a bad value raises `ConfigError` naming the variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"EDGE_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            parse = _PARSERS[f.name]
            try:
                values[f.name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r}: {exc}", field=name) from exc
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Range checks shared by `from_env` and tests that build settings by hand."""
        checks: list[tuple[bool, str, str]] = [
            (self.redis_timeout_ms > 0, "EDGE_REDIS_TIMEOUT_MS", "must be > 0"),
            (self.watch_s >= 0, "EDGE_WATCH_S", "must be >= 0"),
            (self.redis_pool_size >= 1, "EDGE_REDIS_POOL_SIZE", "must be >= 1"),
            (self.deadline_ms > 0, "EDGE_DEADLINE_MS", "must be > 0"),
            (self.max_body_bytes >= 1024, "EDGE_MAX_BODY_BYTES", "must be >= 1024"),
            (self.faiss_threads >= 1, "EDGE_FAISS_THREADS", "must be >= 1"),
            (self.ttl_s >= 0, "EDGE_TTL_S", "must be >= 0"),
            (self.log_level in _LOG_LEVELS, "EDGE_LOG_LEVEL", f"must be one of {sorted(_LOG_LEVELS)}"),
        ]
        checks += [
            (self.session_ttl_s >= 1, "EDGE_SESSION_TTL_S", "must be >= 1"),
            (self.session_max_viewed >= 1, "EDGE_SESSION_MAX_VIEWED", "must be >= 1"),
            (self.events_maxlen >= 1, "EDGE_EVENTS_MAXLEN", "must be >= 1"),
            (self.exposures_maxlen >= 1, "EDGE_EXPOSURES_MAXLEN", "must be >= 1"),
            (self.events_timeout_ms > 0, "EDGE_EVENTS_TIMEOUT_MS", "must be > 0"),
            (self.events_max_body_bytes >= 1024, "EDGE_EVENTS_MAX_BODY_BYTES", "must be >= 1024"),
            (self.max_header_bytes >= 1024, "EDGE_MAX_HEADER_BYTES", "must be >= 1024"),
            (self.redis_wait_replicas >= 0, "EDGE_REDIS_WAIT_REPLICAS", "must be >= 0"),
            (self.read_timeout_s > 0, "EDGE_READ_TIMEOUT_S", "must be > 0"),
            (
                0 <= self.tier_thresholds[0] <= self.tier_thresholds[1] <= self.tier_thresholds[2],
                "EDGE_TIER_THRESHOLDS",
                "must be three ascending spends >= 0 (silver,gold,platinum)",
            ),
        ]
        schemes = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")
        if self.redis_url is not None and not self.redis_url.startswith(schemes):
            raise ConfigError(f"EDGE_REDIS_URL: must start with one of {', '.join(schemes)}", field="EDGE_REDIS_URL")
        for ok, name, message in checks:
            if not ok:
                raise ConfigError(f"{name}: {message}", field=name)
        parse_keys(self.api_keys)  # a bad key list fails at start-up, naming the entry

    @property
    def demo_enabled(self) -> bool:
        """`EDGE_DEMO`, or by default: on with the embedded store, off with Redis (real customers)."""
        return self.demo if self.demo is not None else self.redis_url is None

    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(ttl_s=self.session_ttl_s, max_viewed=self.session_max_viewed)

    def default_tiers(self) -> TierThresholds:
        """Tier thresholds when the build's manifest has none (`edge.model.artifacts.thresholds_for`)."""
        return TierThresholds(*self.tier_thresholds)


_LOG_LEVELS = {"critical", "error", "warning", "info", "debug"}


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true/false")


def _positive_number(raw: str) -> float:
    return float(raw)


def _thresholds(raw: str) -> tuple[float, float, float]:
    """`500,2000,5000`: the spend from which a customer is silver, gold, platinum."""
    parts = [float(p) for p in raw.split(",")]
    if len(parts) != 3:
        raise ValueError("expected three numbers: silver,gold,platinum")
    return (parts[0], parts[1], parts[2])


_PARSERS: dict[str, Callable[[str], Any]] = {
    "redis_url": str,
    "redis_prefix": str,
    "redis_timeout_ms": _positive_number,
    "redis_pool_size": int,
    "artifacts": Path,
    "build_if_missing": _bool,
    "admin_token": str,
    "api_keys": str,
    "cors_origins": str,
    "content": Path,
    "experiments": Path,
    "data": Path,
    "deadline_ms": _positive_number,
    "max_body_bytes": int,
    "faiss_threads": int,
    "ttl_s": int,
    "log_level": str.lower,
    "session_ttl_s": int,
    "session_max_viewed": int,
    "events_maxlen": int,
    "exposures_maxlen": int,
    "events_timeout_ms": _positive_number,
    "events_max_body_bytes": int,
    "tier_thresholds": _thresholds,
    "watch_s": _positive_number,
    "redis_wait_replicas": int,
    "max_header_bytes": int,
    "read_timeout_s": _positive_number,
    "offer_secret": str,
    "access_log": _bool,
    "kernels": _bool,
    "demo": lambda raw: None if raw.strip().lower() == "auto" else _bool(raw),
}
