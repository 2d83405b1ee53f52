"""Tombstones: erased users stay erased through builds, loads, restarts and every worker.

`DELETE /v1/profiles/{id}` records a tombstone, the SHA-256 of the id (the list never holds the id
itself), in two places: the store (`<prefix>:erased`, a Redis set) and the artifacts folder
(`<EDGE_ARTIFACTS>/erased`, one digest a line, beside `CURRENT`). Every path that turns artifacts
into served profiles drops tombstoned ids: `artifacts.write` (so a build never writes them),
the embedded store at start-up, and `edge load` / `edge build --redis` (which also merge the two
lists, so each holds every erasure). docs/security.md describes the whole erasure.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FILE = "erased"


def digest(user_id: str) -> str:
    """What a tombstone holds: the SHA-256 (hex) of the user id."""
    return hashlib.sha256(user_id.encode()).hexdigest()


def read(root: Path) -> frozenset[str]:
    """The tombstones of the artifacts folder `root` (empty when there is no list)."""
    try:
        text = (root / FILE).read_text()
    except FileNotFoundError:
        return frozenset()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def add(root: Path, digests: Iterable[str]) -> None:
    """Append the tombstones not listed yet (one O_APPEND write, fsynced: safe with several writers)."""
    new = sorted(set(digests) - read(root))
    if not new:
        return
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, "".join(f"{d}\n" for d in new).encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def live(
    records: Sequence[Mapping[str, Any]], vectors: np.ndarray, erased: frozenset[str]
) -> tuple[list[Mapping[str, Any]], np.ndarray]:
    """Profile records (and their vector rows) whose user was not erased."""
    if not erased:
        return list(records), vectors
    keep = [i for i, record in enumerate(records) if digest(str(record["user_id"])) not in erased]
    if len(keep) == len(records):
        return list(records), vectors
    return [records[i] for i in keep], vectors[keep]


def scrub(root: Path, erased: frozenset[str]) -> int:
    """Remove erased users from every build kept under `root` (the live one and its predecessors).

    Each touched build gets its profiles, vectors and manifest rewritten (each file replaced
    atomically, the manifest last). Returns how many profiles were removed.
    """
    import orjson

    from edge.model.artifacts import MANIFEST  # artifacts imports this module

    removed = 0
    versions = root / "versions"
    if not versions.is_dir():
        return 0
    for build in sorted(p for p in versions.iterdir() if p.is_dir() and not p.name.startswith(".")):
        lines = [line for line in (build / "profiles.jsonl").read_bytes().splitlines() if line]
        records = [orjson.loads(line) for line in lines]
        keep = [i for i, r in enumerate(records) if digest(str(r["user_id"])) not in erased]
        if len(keep) == len(records):
            continue
        vectors = np.load(build / "user_vectors.npy")
        manifest = orjson.loads((build / MANIFEST).read_bytes())
        manifest["n_users"] = len(keep)
        _replace(build / "profiles.jsonl", b"".join(lines[i] + b"\n" for i in keep))
        with open(build / ".user_vectors.tmp.npy", "wb") as out:
            np.save(out, np.ascontiguousarray(vectors[keep], dtype=np.float32))
        os.replace(build / ".user_vectors.tmp.npy", build / "user_vectors.npy")
        _replace(build / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        removed += len(records) - len(keep)
    return removed


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
