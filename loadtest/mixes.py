"""The traffic mixes of the benchmark of record (issue 10), as pre-formatted `/v1/decide` bodies.

    storefront  50 % anonymous first pages (a fifth of them campaign arrivals with UTM and referrer),
                20 % anonymous visitors with viewed items and a cart, 30 % known customers with a
                session (viewed items), drawn from every customer of the build
    known       100 % known customers with one viewed item

`bench_http.py` (wrk and the open-loop client) and `bench_decision_cpu.py` (in-process CPU and
profile) read the same bodies, so the in-process profile explains the HTTP figures.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

MIXES = ("storefront", "known")
SYNTHETIC_ITEMS = [f"SYN{n}" for n in range(10_000, 13_000)]
SYNTHETIC_USERS = [str(n) for n in range(20_000, 23_000)]
PLACES = [
    ("GB", "en-GB"), ("GB", "en-GB"), ("GB", "en-GB"), ("NL", "nl-NL"), ("DE", "de-DE"),
    ("FR", "fr-FR"), ("BE", "nl-BE"), ("US", "en-US"), ("ES", "es-ES"), ("IE", "en-IE"),
]  # fmt: skip
DEVICES = ["mobile", "mobile", "desktop", "tablet"]
SEARCHES = ["lantern", "candle", "christmas", "mug", "bag", "garden", "party", "cushion"]
CAMPAIGNS = [
    {"source": "newsletter", "medium": "email", "campaign": "xmas"},
    {"source": "google", "medium": "cpc", "campaign": "lanterns"},
    {"source": "facebook", "medium": "social", "campaign": "spring-sale"},
    {"source": "partner", "medium": "affiliate", "campaign": "gift-guide"},
]
REFERRERS = ["https://www.google.com/", "https://www.bing.com/", "https://t.co/x1"]


def build_ids(artifacts: Path) -> tuple[list[str], list[str], str]:
    """Item ids and customer ids of the live build under `artifacts` (else the synthetic ranges), and which."""
    try:
        manifest_here = (artifacts / "index_infos.json").is_file()
        path = artifacts if manifest_here else artifacts / "versions" / (artifacts / "CURRENT").read_text().strip()
        items = [str(record["id"]) for record in json.loads((path / "items.json").read_text())]
        with (path / "profiles.jsonl").open() as lines:
            users = [str(json.loads(line)["user_id"]) for line in lines if line.strip()]
    except (OSError, ValueError, KeyError, TypeError):
        return SYNTHETIC_ITEMS, SYNTHETIC_USERS, "synthetic ranges"
    if not items or not users:
        return SYNTHETIC_ITEMS, SYNTHETIC_USERS, "synthetic ranges"
    return items, users, str(path)


def _base(rng: random.Random) -> dict[str, Any]:
    country, locale = rng.choice(PLACES)
    return {
        "session_id": f"s-{rng.getrandbits(40):010x}",
        "page": "home",
        "locale": locale,
        "location": {"country": country},
        "context": {"device": rng.choice(DEVICES)},
    }


def storefront_body(rng: random.Random, items: list[str], users: list[str]) -> dict[str, Any]:
    """One request of the `storefront` mix."""
    body = _base(rng)
    draw = rng.random()
    if draw < 0.5:  # anonymous first page, a fifth of them campaign arrivals
        if rng.random() < 0.2:
            body["session"] = {"utm": rng.choice(CAMPAIGNS), "referrer": rng.choice(REFERRERS), "first_visit": True}
        return body
    if draw < 0.7:  # anonymous with viewed items and a cart
        session: dict[str, Any] = {"viewed": rng.sample(items, rng.randint(1, 5)), "cart": rng.sample(items, 1)}
        if rng.random() < 0.3:
            session["searches"] = [rng.choice(SEARCHES)]
        body["session"] = session
        return body
    body["user_id"] = rng.choice(users)  # known customer with a session
    body["session"] = {"viewed": rng.sample(items, rng.randint(1, 3))}
    return body


def known_body(rng: random.Random, items: list[str], users: list[str]) -> dict[str, Any]:
    """One request of the `known` mix: a known customer with one viewed item."""
    body = _base(rng)
    body["user_id"] = rng.choice(users)
    body["session"] = {"viewed": [rng.choice(items)]}
    return body


def mix_bodies(mix: str, items: list[str], users: list[str], n: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    """`n` decide bodies of `mix` (deterministic for a seed)."""
    rng = random.Random(f"{mix}-{seed}")
    make = storefront_body if mix == "storefront" else known_body
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r} (one of {', '.join(MIXES)})")
    return [make(rng, items, users) for _ in range(n)]


def encoded(bodies: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(body, separators=(",", ":")).encode() for body in bodies]
