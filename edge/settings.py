"""Settings: every `EDGE_*` environment variable, parsed once into a frozen `Settings`."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

PACKAGE_DATA = Path(__file__).parent / "data"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Edge process. Tests build these directly."""

    redis_url: str | None = None  # unset = embedded in-process store
    redis_prefix: str = "edge"
    redis_timeout_ms: float = 25.0  # socket connect/read timeout of one Redis call
    redis_pool_size: int = 64
    artifacts: Path = Path("artifacts")
    build_if_missing: bool = True  # build the synthetic demo store on first start
    admin_token: str | None = None  # unset = admin endpoints disabled
    content: Path = field(default_factory=lambda: PACKAGE_DATA / "content.yaml")
    experiments: Path | None = None
    data: Path | None = None  # real interaction data for `edge build --data`
    deadline_ms: float = 50.0  # a decision's budget for its dependencies
    max_body_bytes: int = 65536
    faiss_threads: int = 1
    ttl_s: int = 60  # how long a storefront may cache a decision
    log_level: str = "info"

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
            (self.redis_pool_size >= 1, "EDGE_REDIS_POOL_SIZE", "must be >= 1"),
            (self.deadline_ms > 0, "EDGE_DEADLINE_MS", "must be > 0"),
            (self.max_body_bytes >= 1024, "EDGE_MAX_BODY_BYTES", "must be >= 1024"),
            (self.faiss_threads >= 1, "EDGE_FAISS_THREADS", "must be >= 1"),
            (self.ttl_s >= 0, "EDGE_TTL_S", "must be >= 0"),
            (self.log_level in _LOG_LEVELS, "EDGE_LOG_LEVEL", f"must be one of {sorted(_LOG_LEVELS)}"),
        ]
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("EDGE_REDIS_URL: must start with redis://, rediss:// or unix://", field="EDGE_REDIS_URL")
        for ok, name, message in checks:
            if not ok:
                raise ConfigError(f"{name}: {message}", field=name)


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


_PARSERS: dict[str, Callable[[str], Any]] = {
    "redis_url": str,
    "redis_prefix": str,
    "redis_timeout_ms": _positive_number,
    "redis_pool_size": int,
    "artifacts": Path,
    "build_if_missing": _bool,
    "admin_token": str,
    "content": Path,
    "experiments": Path,
    "data": Path,
    "deadline_ms": _positive_number,
    "max_body_bytes": int,
    "faiss_threads": int,
    "ttl_s": int,
    "log_level": str.lower,
}
