"""Incremental build: fold only the events after an existing build into it, without refactorizing.

    edge build --data DIR --since VERSION

Every one-machine build leaves `fold_state.npz` beside its artifacts: the counts behind its lists
(purchase lines per item and per country and item, the item x item order counts of co-purchase,
the last 30 days of lines for trending) and its customers. `fold` reads the data, keeps the
purchase lines after the build's `data_end`, adds them to those counts and to the profiles, and
writes a new version: popularity lists, co-purchase neighbours and profiles (orders, spend, points,
first/last purchase, purchased, the ledger of purchases net of returns and cancellations, country,
complaint times) come out as a full build over all the data gives them (the ledger is each
customer's, recomputed from all the lines and credits read, as `models.ledger` makes it); item
vectors, the index, categories, tier thresholds and existing customers' vectors are the base
build's (no ALS). What a fold cannot do, and so when to schedule a full rebuild:

- products that are not in the base build's catalog: their lines are dropped from the lists
  (counted in the manifest as `incremental.unknown_item_lines`) until a full build adds them;
- new customers get a purchase-history vector, not an ALS one; tier thresholds stay the base's.

A fold of a fold works (the state travels with each version); rebuild in full when the share of
unknown-item lines or of customers without ALS vectors grows, and at least weekly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from edge.core.loyalty import TierThresholds
from edge.errors import ConfigError
from edge.model import artifacts
from models import build as model_build
from models import ledger
from models.columnar import read_source
from models.dataset import Dataset

STATE_FILE = "fold_state.npz"
Log = Callable[[str], None]


def write_state(
    ds: Dataset, path: Path, users: Sequence[str] | None = None, co: sparse.csr_matrix | None = None
) -> None:
    """The counts a later `fold` continues from, written into the build version at `path` (`co`:
    `models.build.co_purchase_counts(ds)` when the caller has it)."""
    lines = ds.interactions
    country_ids, country_rows = lines.codes("country")
    countries = country_ids.tolist()
    cells = country_rows * len(ds.items) + lines.item
    by_country = np.bincount(cells, minlength=len(countries) * len(ds.items)).reshape(len(countries), -1)
    recent = lines.ts >= ds.end - np.timedelta64(model_build.TRENDING_DAYS, "D")
    co = (co if co is not None else model_build.co_purchase_counts(ds)).tocsr()
    users = list(users) if users is not None else lines.customer_rows()[0].tolist()
    np.savez(
        path / STATE_FILE,
        item_ids=np.array([item.id for item in ds.items]),
        countries=np.array(countries),
        by_country=by_country,
        recent_item=lines.item[recent],
        recent_country=country_rows[recent],
        recent_ts=lines.ts[recent].astype(np.int64),
        co_data=co.data,
        co_indices=co.indices,
        co_indptr=co.indptr,
        users=np.array(users),
        end=np.int64(ds.end.astype(np.int64)),
    )


def fold(data_dir: Path, root: Path, since: str, *, log: Log = print) -> Path:
    """A new live version: the build `since` plus the purchase lines in `data_dir` after its data end."""
    started = time.perf_counter()
    base_path = root / "versions" / since
    if not (base_path / STATE_FILE).is_file():
        raise ConfigError(
            f"build {since} has no {STATE_FILE} under {root}/versions (fold onto a one-machine build)", field="since"
        )
    base = artifacts.load(base_path)
    state = dict(np.load(base_path / STATE_FILE))
    t = time.perf_counter()
    ds = read_source(data_dir)
    end = np.datetime64(int(state["end"]), "s")
    rows = {str(i): r for r, i in enumerate(state["item_ids"].tolist())}
    new = ds.interactions.select(ds.interactions.ts > end)
    mapped = np.array([rows.get(ds.items[r].id, -1) for r in new.item.tolist()], dtype=np.int64)
    unknown = int((mapped < 0).sum())
    new = new.select(mapped >= 0)
    new.item = mapped[mapped >= 0].astype(np.int32)
    log(f"  {'read':<12} {time.perf_counter() - t:7.2f} s  {len(new)} new purchase lines after {end}Z, "
        f"{unknown} of unknown products")  # fmt: skip
    if len(new) == 0:
        raise ConfigError(f"no purchase lines of known products after {end}Z in {data_dir}", field="since")
    n_items = len(base.items)
    new_ds = Dataset(ds.source, list(base.items), new, {}, None, {})
    new_end = new_ds.end

    t = time.perf_counter()
    countries = [str(c) for c in state["countries"].tolist()]
    for country in sorted(set(new.country.tolist()) - set(countries)):
        countries.append(country)
    by_country = np.zeros((len(countries), n_items), dtype=np.int64)
    by_country[: len(state["by_country"])] = state["by_country"]
    position = {c: i for i, c in enumerate(countries)}
    new_country = np.array([position[c] for c in new.country.tolist()], dtype=np.int64)
    np.add.at(by_country, (new_country, new.item), 1)
    recent_item = np.concatenate([state["recent_item"], new.item]).astype(np.int64)
    recent_country = np.concatenate([state["recent_country"], new_country])
    recent_ts = np.concatenate([state["recent_ts"], new.ts.astype(np.int64)])
    keep = recent_ts >= (new_end - np.timedelta64(model_build.TRENDING_DAYS, "D")).astype(np.int64)
    recent_item, recent_country, recent_ts = recent_item[keep], recent_country[keep], recent_ts[keep]
    lists = popularity_from_counts(by_country, countries, recent_item, recent_country, n_items)
    step = {"popularity": round(time.perf_counter() - t, 3)}
    t = time.perf_counter()
    co = sparse.csr_matrix((state["co_data"], state["co_indices"], state["co_indptr"]), shape=(n_items, n_items))
    co = (co + model_build.co_purchase_counts(new_ds)).tocsr()
    neighbours = model_build.neighbours_from_counts(co.copy(), model_build.NEIGHBOURS)
    step["neighbours"] = round(time.perf_counter() - t, 3)

    t = time.perf_counter()
    thresholds = TierThresholds(**base.manifest["tier_thresholds"])
    profiles, user_vectors, users = _fold_profiles(base, new_ds, ds, thresholds)
    step["profiles"] = round(time.perf_counter() - t, 3)
    manifest = {
        key: value
        for key, value in base.manifest.items()
        if key not in {"format", "format_version", "version", "built_at", "n_items", "n_users", "dim"}
    }
    manifest.update(
        {
            "data_end": _rfc3339(new_end),
            "n_interactions": int(base.manifest["n_interactions"]) + len(new),
            "timings_s": step,
            "incremental": {
                "since": since,
                "base": base.manifest.get("incremental", {}).get("base", since),
                "new_lines": len(new),
                "unknown_item_lines": unknown,
                "new_customers": len(users) - len(base.profiles),
            },
        }
    )
    path = artifacts.write(
        root,
        items=base.items,
        item_vectors=base.item_vectors,
        index_bytes=(base_path / "item.index").read_bytes(),
        neighbors=neighbours,
        popularity=lists,
        profiles=profiles,
        user_vectors=user_vectors,
        manifest=manifest,
    )
    np.savez(
        path / STATE_FILE,
        item_ids=state["item_ids"],
        countries=np.array(countries),
        by_country=by_country,
        recent_item=recent_item,
        recent_country=recent_country,
        recent_ts=recent_ts,
        co_data=co.data,
        co_indices=co.indices,
        co_indptr=co.indptr,
        users=np.array(users),
        end=np.int64(new_end.astype(np.int64)),
    )
    log(f"folded {len(new)} lines into {since} -> {path.name} in {time.perf_counter() - started:.2f} s")
    return path


def popularity_from_counts(
    by_country: np.ndarray, countries: Sequence[str], recent_item: np.ndarray, recent_country: np.ndarray, n_items: int
) -> dict[str, Any]:
    """`models.build.popularity` from per-country item counts and the last 30 days of lines."""

    def ranked(weights: np.ndarray) -> list[int]:
        order = np.argsort(-weights, kind="stable")
        return [int(r) for r in order[: model_build.TOP_LIST] if weights[r] > 0]

    recent = np.zeros((len(countries), n_items), dtype=np.int64)
    np.add.at(recent, (recent_country, recent_item), 1)
    everything = ranked(by_country.sum(axis=0).astype(np.float64))
    result: dict[str, Any] = {
        "global": everything,
        "trending": ranked(recent.sum(axis=0).astype(np.float64)) or everything,
        "by_country": {},
        "trending_by_country": {},
    }
    for row, country in sorted(enumerate(countries), key=lambda rc: rc[1]):
        if not country or by_country[row].sum() < model_build.MIN_COUNTRY_LINES:
            continue
        result["by_country"][country] = ranked(by_country[row].astype(np.float64))
        trending = ranked(recent[row].astype(np.float64))
        if len(trending) >= 10:
            result["trending_by_country"][country] = trending
    return result


def _fold_profiles(
    base: artifacts.Artifacts, new: Dataset, everything: Dataset, thresholds: TierThresholds
) -> tuple[list[dict[str, Any]], np.ndarray, list[str]]:
    """Base profiles with the new lines added; new customers appended in id order, with history vectors.

    Spend, points, orders, the last purchase and the ledger are each customer's ledger over all the
    data read (`everything`: purchases net of returns and cancellations, `models.ledger`), as a full
    build makes them.
    """
    lines = new.interactions
    mine = lines.select(lines.user != "")
    groups = model_build._group_lines(mine)
    all_lines = everything.interactions
    history = model_build._group_lines(all_lines)
    old = {str(p["user_id"]): i for i, p in enumerate(base.profiles)}
    users = sorted(set(old) | set(groups) | set(everything.customers))
    fresh = [u for u in users if u not in old]
    fresh_vectors = model_build.user_vectors_from_history(new, base.item_vectors, fresh) if fresh else None
    fresh_row = {u: i for i, u in enumerate(fresh)}
    profiles: list[dict[str, Any]] = []
    vectors = np.zeros((len(users), base.user_vectors.shape[1]), dtype=np.float32)
    for row, user in enumerate(users):
        at = old.get(user)
        profile: dict[str, Any] = dict(base.profiles[at]) if at is not None else {"user_id": user}
        if at is not None:
            vectors[row] = base.user_vectors[at]
        elif fresh_vectors is not None:
            vectors[row] = fresh_vectors[fresh_row[user]]
        batch = groups.get(user)
        if batch is not None:
            facts = model_build._purchase_facts(new, batch)
            if "orders" in profile:  # bought before: add to what the base build counted
                profile["orders"] = int(profile["orders"]) + facts["orders"]
                profile["last_purchase_at"] = max(str(profile["last_purchase_at"]), facts["last_purchase_at"])
                seen = dict.fromkeys(profile.get("purchased") or [])
                profile["purchased"] = list(seen | dict.fromkeys(facts["purchased"]))
            else:
                profile.update(facts)
        found = dict(everything.customers.get(user, {}))
        book = ledger.customer_ledger(history.get(user), found.pop("credits_at", None))
        total = max(0.0, book.spend)  # net of returns and cancellations
        profile["spend"] = round(total, 2)
        profile["points"] = max(0, book.points)
        profile["tier"] = thresholds.tier(total)
        for frozen in ("returns_90d", "complaints_90d", "returns_total", "complaints_total"):
            found.pop(frozen, None)
            profile.pop(frozen, None)
        profile.update(book.facts())
        profile.update(found)  # country, locale, complaint times: as the data read gives them
        profiles.append(profile)
    return profiles, vectors, users


def _rfc3339(ts: np.datetime64) -> str:
    return str(ts.astype("datetime64[s]")) + "Z"
