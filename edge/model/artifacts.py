"""Artifacts: the versioned files an offline build writes and every worker loads.

Layout (see docs/artifacts.md):

    <root>/CURRENT                 name of the live version (replaced atomically)
    <root>/versions/<version>/     one complete build
        index_infos.json           manifest: format, version, dim, metric, sizes, build time, recall
        items.json                 item records; row i describes vector row i
        item_vectors.npy           float32 [n_items, dim], L2-normalised
        item.index                 faiss index over item_vectors (inner product)
        neighbors.npy              int32 [n_items, k] co-purchase neighbours as rows, -1 padded
        popularity.json            ranked rows: global, trending, by_country, trending_by_country
        profiles.jsonl             one customer profile per line (the admin API's shape + user_id)
        user_vectors.npy           float32 [n_users, dim]; row i belongs to profiles.jsonl line i
        ranking.npz                optional: EASE weights, item facts, near-duplicate groups, ranker trees
        text_index.json            optional (older builds): the search index over names and categories

The loader is strict: a missing file, another format version or a shape that disagrees with the
manifest raises `ArtifactError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from edge.core.catalog import Item, Popularity
from edge.core.learned import Learned
from edge.core.loyalty import TierThresholds, thresholds_in
from edge.core.textindex import TextIndex
from edge.errors import ArtifactError
from edge.model import build_files
from edge.store import tombstones

FORMAT = "edge-artifacts"
FORMAT_VERSION = 1
MANIFEST = "index_infos.json"
FILES = (
    "items.json",
    "item_vectors.npy",
    "item.index",
    "neighbors.npy",
    "popularity.json",
    "profiles.jsonl",
    "user_vectors.npy",
)
KEEP_VERSIONS = 3


@dataclass(frozen=True, slots=True)
class Artifacts:
    """One loaded build; immutable, swapped whole on reload."""

    path: Path
    manifest: Mapping[str, Any]
    items: tuple[Item, ...]
    item_vectors: np.ndarray
    neighbors: np.ndarray
    popularity: Popularity
    profiles: tuple[dict[str, Any], ...]
    user_vectors: np.ndarray
    learned: Learned | None = None  # ranking.npz, when the build wrote one
    text: TextIndex | None = None  # text_index.json, when the build wrote one

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def index_path(self) -> Path:
        return self.path / "item.index"


def resolve(root: Path) -> Path:
    """The directory of the live version under `root` (or `root` itself if it holds a manifest)."""
    if (root / MANIFEST).is_file():
        return root
    current = root / "CURRENT"
    if not current.is_file():
        raise ArtifactError(f"no artifacts in {root}: {current} is missing (run `edge build`)", field="EDGE_ARTIFACTS")
    version = current.read_text().strip()
    path = root / "versions" / version
    if not (path / MANIFEST).is_file():
        raise ArtifactError(f"{current} names version {version!r} but {path / MANIFEST} is missing")
    return path


@lru_cache(maxsize=8)
def thresholds_for(build: Path, default: TierThresholds) -> TierThresholds:
    """The build's own tier thresholds (manifest `tier_thresholds`), else `default`; read once per build."""
    try:
        manifest = orjson.loads((build / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return default
    return thresholds_in(manifest, default)


def exists(root: Path) -> bool:
    """True when `root` holds a loadable build (used to decide whether to build the demo store)."""
    try:
        resolve(root)
    except ArtifactError:
        return False
    return True


def load(root: Path) -> Artifacts:
    """Load and check the live build under `root`."""
    path = resolve(root)
    manifest = _read_json(path / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{path / MANIFEST}: not an {FORMAT} manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path / MANIFEST}: format_version {manifest.get('format_version')!r}, this Edge reads {FORMAT_VERSION}"
        )
    for name in FILES:
        if not (path / name).is_file():
            raise ArtifactError(f"{path / name} is missing")
    dim = int(manifest["dim"])
    n_items = int(manifest["n_items"])
    n_users = int(manifest["n_users"])
    items = tuple(_item(record, i) for i, record in enumerate(_read_json(path / "items.json")))
    _expect(len(items) == n_items, path / "items.json", f"{len(items)} items, manifest says {n_items}")
    item_vectors = _read_matrix(path / "item_vectors.npy", np.float32, (n_items, dim))
    neighbors = _read_matrix(path / "neighbors.npy", np.int32, (n_items, None))
    _expect(bool(np.all(neighbors < n_items)), path / "neighbors.npy", "row out of range")
    popularity = _popularity(_read_json(path / "popularity.json"), n_items, path / "popularity.json")
    profiles = tuple(orjson.loads(line) for line in (path / "profiles.jsonl").read_bytes().splitlines() if line)
    _expect(len(profiles) == n_users, path / "profiles.jsonl", f"{len(profiles)} profiles, manifest says {n_users}")
    user_vectors = _read_matrix(path / "user_vectors.npy", np.float32, (n_users, dim))
    learned = build_files.load_learned(path, n_items, manifest.get("ranker"))
    text = build_files.load_text_index(path, n_items)
    return Artifacts(path, manifest, items, item_vectors, neighbors, popularity, profiles, user_vectors, learned, text)


def write(
    root: Path,
    *,
    items: Sequence[Item],
    item_vectors: np.ndarray,
    index_bytes: bytes,
    neighbors: np.ndarray,
    popularity: Mapping[str, Any],
    profiles: Iterable[Mapping[str, Any]],
    user_vectors: np.ndarray,
    manifest: Mapping[str, Any],
    learned: Learned | None = None,
) -> Path:
    """Write a complete build as a new version under `root` and make it live atomically.

    `manifest` carries the build's own facts (source, index_type, metric, recall, report); this
    function adds format, version, sizes and build time. Returns the version directory.
    """
    n_items, dim = item_vectors.shape
    built_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    profiles, user_vectors = tombstones.live(list(profiles), user_vectors, tombstones.read(root))  # never resurrect
    profile_lines = b"".join(orjson.dumps(p, option=orjson.OPT_SORT_KEYS) + b"\n" for p in profiles)
    # vectors and profiles: an incremental build keeps the vectors, so they alone would not tell it apart
    digest = hashlib.sha256(item_vectors.tobytes() + profile_lines).hexdigest()[:8]
    version = f"{manifest.get('source', 'build')}-{built_at.replace(':', '').replace('-', '')}-{digest}"
    versions = root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    same_second = 1
    while (versions / version).exists():  # the same data built twice within a second: a new version all the same
        same_second += 1
        version = f"{version.rsplit('.', 1)[0]}.{same_second}"
    n_users = profile_lines.count(b"\n")
    if user_vectors.shape != (n_users, dim):
        raise ArtifactError(f"user_vectors shape {user_vectors.shape} does not match {n_users} profiles x dim {dim}")
    full_manifest = {
        **manifest,
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": version,
        "built_at": built_at,
        "dim": int(dim),
        "metric": manifest.get("metric", "inner_product"),
        "n_items": int(n_items),
        "n_users": n_users,
    }
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=versions))
    staging.chmod(0o755)  # mkdtemp makes it 0700: a server running as another user must read the build
    (staging / "items.json").write_bytes(orjson.dumps([_item_json(item) for item in items]))
    np.save(staging / "item_vectors.npy", np.ascontiguousarray(item_vectors, dtype=np.float32))
    (staging / "item.index").write_bytes(index_bytes)
    np.save(staging / "neighbors.npy", np.ascontiguousarray(neighbors, dtype=np.int32))
    (staging / "popularity.json").write_bytes(orjson.dumps(popularity, option=orjson.OPT_SERIALIZE_NUMPY))
    (staging / "profiles.jsonl").write_bytes(profile_lines)
    np.save(staging / "user_vectors.npy", np.ascontiguousarray(user_vectors, dtype=np.float32))
    if learned is not None:
        build_files.save_learned(learned, staging)
    best_sellers = [int(row) for row in popularity.get("global", ())]
    build_files.save_text_index(TextIndex.from_items(items, best_sellers), staging)
    (staging / MANIFEST).write_bytes(orjson.dumps(full_manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    final = versions / version
    staging.rename(final)
    _point_current(root, version)
    _prune(versions, keep=version)
    return final


def _point_current(root: Path, version: str) -> None:
    tmp = root / f".CURRENT.{os.getpid()}"
    tmp.write_text(version + "\n")
    os.replace(tmp, root / "CURRENT")


def _prune(versions: Path, keep: str) -> None:
    builds = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.stat().st_mtime)
    for old in builds[:-KEEP_VERSIONS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def _item_json(item: Item) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item.id, "name": item.name, "category": item.category, "price": item.price}
    if item.sale_price is not None:
        record["sale_price"] = item.sale_price
    if item.repeatable:
        record["repeatable"] = True
    if item.stock:
        record["stock"] = dict(item.stock)
    return record


def _item(record: Any, row: int) -> Item:
    try:
        sale = record.get("sale_price")
        stock = record.get("stock")
        return Item(
            id=str(record["id"]),
            name=str(record["name"]),
            category=str(record["category"]),
            price=float(record["price"]),
            sale_price=None if sale is None else float(sale),
            repeatable=bool(record.get("repeatable", False)),
            stock=None if not stock else {str(k): int(v) for k, v in stock.items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"items.json[{row}]: {exc!r}") from exc


def _popularity(data: Any, n_items: int, path: Path) -> Popularity:
    def rows(values: Any, where: str) -> np.ndarray:
        array = np.asarray(values, dtype=np.int64)
        _expect(array.ndim == 1 and bool(np.all((array >= 0) & (array < n_items))), path, f"{where}: bad rows")
        return array.astype(np.int32)

    try:
        return Popularity(
            global_rows=rows(data["global"], "global"),
            trending_rows=rows(data["trending"], "trending"),
            by_country={c: rows(v, f"by_country.{c}") for c, v in data["by_country"].items()},
            trending_by_country={
                c: rows(v, f"trending_by_country.{c}") for c, v in data["trending_by_country"].items()
            },
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{path}: missing or malformed {exc}") from exc


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path} is missing") from exc
    except orjson.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: invalid JSON ({exc})") from exc


def _read_matrix(path: Path, dtype: type[np.generic], shape: tuple[int, int | None]) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable ({exc})") from exc
    _expect(array.dtype == dtype, path, f"dtype {array.dtype}, expected {np.dtype(dtype)}")
    _expect(array.ndim == 2 and array.shape[0] == shape[0], path, f"shape {array.shape}, expected rows {shape[0]}")
    if shape[1] is not None:
        _expect(array.shape[1] == shape[1], path, f"shape {array.shape}, expected {shape}")
    checked: np.ndarray = array
    return checked


def _expect(ok: bool, path: Path, message: str) -> None:
    if not ok:
        raise ArtifactError(f"{path}: {message}")
