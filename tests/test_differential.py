"""Differential: issue 10's shortcuts change no decision.

10,000 generated requests (every segment, sessions, carts, exclusions, consent, experiments with a
holdout and ranking arms, every page type) are decided twice from the same snapshot: by the engine
as it serves (per-profile values remembered across decisions by identity, the candidate-sized
learned pool) and by the same build with the shortcuts off (`Model.as_plain`: every value computed
afresh, the catalog-sized pool). The answers must be identical: variant, texts, offer, products
with their scores and reasons, in order. The profiles are shared objects, as the near cache hands
them out, and decision times fall before and after their dated facts, so a remembered loyalty view
that outlived its `now` would show. The near cache of parsed profile hashes is checked against a
fresh parse, and against a hash that changed under it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from edge.core.decide import Decided, Engine, decide_from_snapshot
from edge.core.derived import Derived
from edge.core.loyalty import DEFAULT_TIERS, as_of
from edge.core.profiles import LedgerEntry, Profile, profile_json
from edge.core.requests import Utm, parse_decide
from edge.core.sessions import StoredSession
from edge.core.snapshot import Snapshot
from edge.runtime import Runtime
from edge.settings import Settings
from edge.store.base import profiles_from_records
from edge.store.redis_store import ProfileCache, profile_view
from tests.conftest import ADMIN

REQUESTS = 10_000
EXPERIMENTS = """
holdout: {percent: 5, seed: diff-holdout}
experiments:
  - key: ranking-test
    unit: user_id
    arms:
      - {key: control, weight: 0.4}
      - {key: blend, weight: 0.3, ranking: {strategy: blend, weights: {similar_to_viewed: 2.0}}}
      - {key: popular, weight: 0.3, ranking: {strategy: popular, max_category_share: 0.25}}
  - key: hero-test
    unit: session_id
    arms:
      - {key: control, weight: 0.5}
      - key: b
        weight: 0.5
        content:
          en: {greeting: "Hi there!", cta_text: "Shop the look"}
"""
NOW = datetime(2011, 12, 1, 10, 30, tzinfo=UTC)  # the generated history ends the day before
COUNTRIES = [None, "GB", "NL", "DE", "FR", "BE", "US", "ES"]
LOCALES = [None, "en-GB", "nl-NL", "de-DE", "fr-FR"]
PAGES = ["home", "home", "home", "product", "category", "cart", "search"]
CAMPAIGNS = ["xmas", "lanterns", "spring-sale", "gift-guide"]
SEARCHES = ["lantern", "candle", "christmas", "mug", "bag"]


@pytest.fixture(scope="module")
def engines(ranker_build: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Engine, Engine, Runtime]:
    """The real-data pipeline's build with a trained ranker (conftest's `ranker_build`, of generated data up to
    NOW's day): the serving engine (`pool_small` on this small catalog), the same with the candidate-sized pool
    forced, and its plain reference."""
    experiments = tmp_path_factory.mktemp("diff") / "experiments.yaml"
    experiments.write_text(EXPERIMENTS)
    settings = Settings(artifacts=ranker_build, admin_token=ADMIN, build_if_missing=False, experiments=experiments)
    runtime = Runtime.open(settings)
    engine = runtime.engine
    fast = replace(engine, model=replace(engine.model, large_catalog=0))
    plain = replace(engine, model=engine.model.as_plain())
    assert fast.model.ranker is not None, "the test build must have a trained ranker"
    return engine, fast, plain, runtime


def member_variants(base: Profile, rng: random.Random) -> Profile:
    """A profile shaped towards one of the segments, with a ledger, complaints, a cart or wishes."""
    kind = rng.choice(["as_built", "new_member", "active", "ambassador", "at_risk", "lapsed", "lost", "ledger"])
    if kind == "as_built":
        return base
    joined = NOW - timedelta(days=rng.choice([10, 200, 900]))
    last = NOW - timedelta(days=rng.choice([5, 40, 150, 400]))
    changes: dict[str, Any] = {"joined_at": joined, "last_purchase_at": last, "first_name": rng.choice(["Anna", None])}
    if kind == "new_member":
        changes |= {"joined_at": NOW - timedelta(days=5), "orders": 1, "tier": "bronze"}
    elif kind == "ambassador":
        changes |= {"tier": "gold", "orders": 30, "spend": 4000.0, "points": 2500}
    elif kind == "at_risk":
        changes |= {"tier": "gold", "complaints_90d": 1, "complaints_at": (NOW - timedelta(days=3),)}
    elif kind == "lapsed":
        changes |= {"last_purchase_at": NOW - timedelta(days=120)}
    elif kind == "lost":
        changes |= {"last_purchase_at": NOW - timedelta(days=400), "tier": "platinum"}
    elif kind == "ledger":  # some entries after some decision times: the loyalty view depends on `now`
        entries = tuple(
            LedgerEntry(NOW + timedelta(days=d), rng.choice(["purchase", "purchase", "return"]), a, int(a))
            for d, a in ((-300, 120.0), (-40, 80.5), (-1, 45.0), (2, 300.0))
        )
        changes |= {"ledger": entries, "document_ledger": len(entries), "spend": 545.5, "points": 545}
    if rng.random() < 0.3:
        changes["cart"] = tuple(rng.sample(base.purchased or ("x",), min(2, len(base.purchased or ("x",)))))
    if rng.random() < 0.3:
        changes["wishlist"] = tuple(rng.sample(base.purchased, min(3, len(base.purchased))))
    if rng.random() < 0.2:
        changes["preferred_categories"] = ("Candles", "Kitchen")
    return replace(base, **changes)


def request_body(rng: random.Random, items: list[str], user: str | None, categories: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = {"session_id": f"s-{rng.randrange(3000)}", "page": rng.choice(PAGES)}
    if user is not None:
        body["user_id"] = user
    country, locale = rng.choice(COUNTRIES), rng.choice(LOCALES)
    if country:
        body["location"] = {"country": country}
    if locale:
        body["locale"] = locale
    if rng.random() < 0.5:
        body["limit"] = rng.choice([4, 8, 12, 24])
    context: dict[str, Any] = {"device": rng.choice(["mobile", "desktop", "tablet"])}
    if body["page"] == "product":
        context["product_id"] = rng.choice(items)
    elif body["page"] == "category":
        context["category"] = rng.choice(categories)
    elif body["page"] == "search":
        context["query"] = rng.choice(SEARCHES)
    if rng.random() < 0.2:
        context["weather"] = rng.choice(["rain", "sun", "snow"])
    body["context"] = context
    session: dict[str, Any] = {}
    if rng.random() < 0.5:
        session["viewed"] = rng.sample(items, rng.randint(1, 6))
    if rng.random() < 0.25:
        session["cart"] = rng.sample(items, rng.randint(1, 3))
    if rng.random() < 0.2:
        session["searches"] = [rng.choice(SEARCHES)]
    if rng.random() < 0.15:
        session["utm"] = {"source": "newsletter", "medium": "email", "campaign": rng.choice(CAMPAIGNS)}
    if session:
        body["session"] = session
    if rng.random() < 0.2:
        body["exclude"] = rng.sample(items, rng.randint(1, 20))
    if rng.random() < 0.1:
        body["consent"] = {"personalization": rng.random() < 0.5}
    if rng.random() < 0.05:
        body["debug"] = True
    return body


def snapshot_for(rng: random.Random, profile: Profile | None, vector: np.ndarray | None, items: list[str]) -> Snapshot:
    """What a store would answer: the shared profile object, a stored session, offer counts, consent."""
    session = None
    if rng.random() < 0.3:
        session = StoredSession(
            viewed=tuple(rng.sample(items, rng.randint(0, 4))),
            cart=tuple(rng.sample(items, rng.randint(0, 2))),
            purchased=tuple(rng.sample(items, rng.randint(0, 2))),
            wishlist=tuple(rng.sample(items, rng.randint(0, 2))),
            utm=Utm(campaign=rng.choice(CAMPAIGNS)) if rng.random() < 0.2 else Utm(),
        )
    consent = rng.choice([None, None, None, True, False])
    shown = {"WELCOME10": rng.randint(0, 5)} if rng.random() < 0.2 else {}
    first = {"welcome10": NOW - timedelta(days=rng.randint(0, 20))} if rng.random() < 0.2 else {}
    return Snapshot(profile, vector if profile is not None else None, shown, session, consent, first)


def comparable(decided: Decided) -> dict[str, Any]:
    """The decision and what it writes, without what differs per call by design (its id, the time taken)."""
    body = {k: v for k, v in decided.body.items() if k not in ("decision_id", "took_ms")}
    return body | {"writes": (decided.offer_code, decided.arms, decided.profile_ops, decided.holdout)}


def test_optimized_decisions_equal_the_plain_reference(engines: tuple[Engine, Engine, Engine, Runtime]) -> None:
    serving, fast, plain, runtime = engines
    rng = random.Random(10)
    model = fast.model
    items = [str(item["id"]) for item in model.catalog.item_json]
    categories = list(model.catalog.category_names)
    records = runtime.profiles[:400]
    vectors = model.index.vectors
    members: list[tuple[Profile, np.ndarray | None]] = []
    for row, base in enumerate(profiles_from_records(records)):
        vector = vectors[row % len(vectors)] if rng.random() < 0.8 else None
        members.append((member_variants(base, rng), vector))
    segments: set[str] = set()
    reasons: set[str] = set()
    learned = 0
    for i in range(REQUESTS):
        known = rng.random() < 0.6
        profile, vector = members[rng.randrange(len(members))] if known else (None, None)
        body = request_body(rng, items, profile.user_id if profile else None, categories)
        request = parse_decide(body)
        snapshot = snapshot_for(rng, profile, vector, items)
        now = NOW + timedelta(days=rng.choice([-2, 0, 0, 0, 1, 3]), minutes=rng.randrange(600))
        expected = decide_from_snapshot(plain, request, snapshot, now)
        got = decide_from_snapshot(fast, request, snapshot, now)
        assert comparable(got) == comparable(expected), f"request {i}: {body}"
        served = decide_from_snapshot(serving, request, snapshot, now)
        assert comparable(served) == comparable(expected), f"request {i} (pool_small): {body}"
        segments.add(got.body["segment"])
        reasons.update(p["reason"] for p in got.body["products"])
        learned += any(r in ("for_you", "similar_to_viewed") for r in (p["reason"] for p in got.body["products"]))
    assert serving.model._led_lists, "anonymous pages with a lead list (campaign, boosts) were decided from the memo"
    assert {"new_visitor", "campaign", "active", "lapsed", "lost"} <= segments, segments
    assert learned > REQUESTS // 10
    assert len(reasons) >= 6, reasons


def stored_hash(profile: Profile, vector: np.ndarray | None, **fields: str) -> list[bytes]:
    """A profile hash as HGETALL returns it: the document, the vector, event fields."""
    flat = [b"p", orjson.dumps(profile_json(profile))]
    if vector is not None:
        flat += [b"v", vector.astype(np.float32).tobytes()]
    for name, value in fields.items():
        flat += [name.replace("__", ":").encode(), value.encode()]
    return flat


def test_profile_near_cache_equals_a_fresh_parse_and_never_serves_a_changed_hash() -> None:
    cache = ProfileCache(size=8)
    anna = Profile(user_id="u1", first_name="Anna", orders=3, spend=90.0, purchased=("A", "B"), tier="silver")
    first = stored_hash(anna, np.ones(4, dtype=np.float32), e__orders="1", e__purchased='["C"]')
    view = cache.view("u1", first)
    fresh = profile_view("u1", first)[0]
    assert view[0] == fresh[0] and view[2] == fresh[2] and view[3] == fresh[3]
    assert view[1] is not None and fresh[1] is not None and view[1].tolist() == fresh[1].tolist()
    assert view[3] is not None and view[3].orders == 4 and view[3].purchased == ("A", "B", "C")
    assert cache.view("u1", list(first))[3] is view[3]  # the same bytes: the parsed profile is reused
    changed = stored_hash(anna, np.ones(4, dtype=np.float32), e__orders="2", e__purchased='["C", "D"]')
    again = cache.view("u1", changed)[3]
    assert again is not None and again.orders == 5 and again.purchased == ("A", "B", "C", "D")
    other_user = cache.view("u2", first)[3]  # the same bytes under another id is another profile
    assert other_user is not None and other_user.user_id == "u2"
    cache.forget("u1")  # an erasure drops what the worker cached about the user, and nothing else
    assert len(cache.memo) == 1 and cache.view("u2", first)[3] is other_user


def test_an_unreadable_stored_part_is_reported_on_every_read_with_the_cache() -> None:
    from edge.store import repair

    cache = ProfileCache(size=8)
    broken = [b"p", b"{not json", b"e:orders", b"2"]
    before = repair.unreadable_count()
    for _ in range(3):
        document, _, _, merged = cache.view("u9", broken)
        assert document is None and merged is not None and merged.orders == 2
    assert repair.unreadable_count() - before == 3


def test_a_remembered_loyalty_view_is_the_fresh_one_and_an_erasure_forgets_it() -> None:
    derived, rules = Derived(), DEFAULT_TIERS
    bought = LedgerEntry(NOW - timedelta(days=3), "purchase", 600.0, 600)
    anna = Profile(user_id="u1", ledger=(bought,), spend=600.0, points=600, orders=1, document_ledger=1)
    view = derived.as_of(anna, NOW, rules)
    assert view == as_of(anna, NOW, rules) and view.tier == "silver"
    assert derived.as_of(anna, NOW + timedelta(days=30), rules) is view  # later: the same view, remembered
    before = derived.as_of(anna, NOW - timedelta(days=5), rules)  # before the purchase: computed afresh
    assert before == as_of(anna, NOW - timedelta(days=5), rules) and before.spend == 0.0
    derived.forget("u1")
    assert derived.as_of(anna, NOW, rules) is not view
