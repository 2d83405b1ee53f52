"""Auth: who may call `/v1/decide` and `/v1/events` (API keys), and the admin token.

`EDGE_API_KEYS` lists the storefront back ends' keys, `name:secret[:scope...]`, separated by
commas or new lines, or names a file that holds such lines (`#` starts a comment). Scopes:
`decide`, `events`, `preferences` (quiz answers), `offers` (checkout code checks); a key without
scopes has all four. Callers send `Authorization: Bearer <secret>`; every key is compared in
constant time (digests, no early exit). The admin token (`EDGE_ADMIN_TOKEN`) may call everything
and is the only credential that unlocks `debug: true` and `X-Edge-Force-Arm`.

With no key configured Edge serves anyone (the one-command demo) and says so at start-up and in
`/readyz`. `EDGE_CORS_ORIGINS` allows browsers of those origins to call without a key, but only
anonymously: a keyless call from an allowed origin that names a `user_id` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request

from edge.errors import ConfigError, Forbidden, Unauthorized

SCOPES = ("decide", "events", "preferences", "offers")
MIN_SECRET = 16
NO_KEYS_WARNING = "no API key configured (EDGE_API_KEYS): /v1/decide and /v1/events accept any caller"


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    digest: bytes  # sha256 of the secret: equal lengths make the comparison constant-time
    scopes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a call: a key's name (None without keys or anonymously), admin, anonymous-only."""

    name: str | None = None
    admin: bool = False
    anonymous_only: bool = False


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_keys(raw: str | None) -> tuple[ApiKey, ...]:
    """The keys of `EDGE_API_KEYS` (inline or a file path); `ConfigError` naming the entry when bad."""
    if raw is None or not raw.strip():
        return ()
    text = raw
    if "/" in raw and ":" not in raw.split("/", 1)[0]:  # a path ("/etc/edge/keys", "./keys")
        path = Path(raw.strip())
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"EDGE_API_KEYS: cannot read {path}: {exc.strerror}", field="EDGE_API_KEYS") from exc
    entries = [e.split("#", 1)[0].strip() for line in text.splitlines() for e in line.split(",")]
    keys: list[ApiKey] = []
    for n, entry in enumerate(e for e in entries if e):
        name, _, rest = entry.partition(":")
        secret, *scopes = rest.split(":")
        where = f"EDGE_API_KEYS entry {n + 1} ({name or '?'})"
        if not name or not secret:
            raise ConfigError(f"{where}: expected name:secret[:scope...]", field="EDGE_API_KEYS")
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"{where}: the secret must be at least {MIN_SECRET} characters", field="EDGE_API_KEYS")
        unknown = set(scopes) - set(SCOPES)
        if unknown:
            scope = sorted(unknown)[0]
            raise ConfigError(f"{where}: unknown scope {scope!r} (use {', '.join(SCOPES)})", "EDGE_API_KEYS")
        if any(k.name == name for k in keys):
            raise ConfigError(f"{where}: the name is used twice", field="EDGE_API_KEYS")
        keys.append(ApiKey(name, _digest(secret), frozenset(scopes or SCOPES)))
    return tuple(keys)


def parse_origins(raw: str | None) -> tuple[str, ...]:
    """`EDGE_CORS_ORIGINS`: comma-separated origins (`https://shop.example`) of anonymous browser calls."""
    return tuple(o.strip().rstrip("/") for o in (raw or "").split(",") if o.strip())


@dataclass(frozen=True, slots=True)
class Guard:
    """The configured credentials; `check` answers who a request is or raises 401/403."""

    keys: tuple[ApiKey, ...]
    admin: bytes | None
    origins: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        """No key configured: anyone may call decide and events."""
        return not self.keys

    def is_admin(self, request: Request) -> bool:
        secret = bearer(request)
        return self.admin is not None and secret is not None and hmac.compare_digest(_digest(secret), self.admin)

    def check(self, request: Request, scope: str) -> Caller:
        secret = bearer(request)
        if secret is not None:
            digest = _digest(secret)
            admin = self.admin is not None and hmac.compare_digest(digest, self.admin)
            found: ApiKey | None = None
            for key in self.keys:  # no early exit: every key is compared
                if hmac.compare_digest(digest, key.digest):
                    found = key
            if admin:
                return Caller("admin", admin=True)
            if found is not None:
                if scope not in found.scopes:
                    raise Forbidden(f"API key {found.name!r} may not call {scope} (scopes: {sorted(found.scopes)})")
                return Caller(found.name)
            if not self.open:
                raise Unauthorized("invalid API key (Authorization: Bearer <secret from EDGE_API_KEYS>)")
        if self.open:
            return Caller()
        origin = request.headers.get("origin", "").rstrip("/")
        if origin and origin in self.origins:
            return Caller(anonymous_only=True)
        raise Unauthorized("missing API key (Authorization: Bearer <secret from EDGE_API_KEYS>)")


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@lru_cache(maxsize=8)
def guard_for(api_keys: str | None, admin_token: str | None, cors_origins: str | None) -> Guard:
    """The guard of these settings, parsed once."""
    admin = None if admin_token is None else _digest(admin_token)
    return Guard(parse_keys(api_keys), admin, parse_origins(cors_origins))


def refuse_named_user(caller: Caller, user_ids: list[str | None]) -> None:
    """An anonymous-only (keyless browser) caller may not name a user: 401 naming the field."""
    if caller.anonymous_only and any(user_ids):
        raise Unauthorized("user_id needs an API key: a browser may only call anonymously", "user_id")
