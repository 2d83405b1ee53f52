from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import orjson
import pytest

from edge.errors import ArtifactError
from edge.model import artifacts
from edge.model.index import ItemIndex, build_index, serialize


def copy_build(artifacts_dir: Path, tmp_path: Path) -> Path:
    live = artifacts.resolve(artifacts_dir)
    target = tmp_path / "build"
    shutil.copytree(live, target)
    return target


def test_load_checks_format_and_shapes(artifacts_dir: Path, tmp_path: Path) -> None:
    art = artifacts.load(artifacts_dir)
    assert art.manifest["format"] == "edge-artifacts" and art.manifest["metric"] == "inner_product"
    assert art.item_vectors.shape == (len(art.items), art.manifest["dim"])
    assert 0.9 <= art.manifest["recall_at_50"] <= 1.0

    build = copy_build(artifacts_dir, tmp_path)
    manifest = orjson.loads((build / "index_infos.json").read_bytes())
    (build / "index_infos.json").write_bytes(orjson.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ArtifactError, match="format_version 99"):
        artifacts.load(build)
    (build / "index_infos.json").write_bytes(orjson.dumps({**manifest, "n_items": 5}))
    with pytest.raises(ArtifactError, match=r"items\.json"):
        artifacts.load(build)
    (build / "index_infos.json").write_bytes(orjson.dumps(manifest))
    (build / "neighbors.npy").unlink()
    with pytest.raises(ArtifactError, match=r"neighbors\.npy is missing"):
        artifacts.load(build)


def test_missing_root_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="edge build"):
        artifacts.load(tmp_path)
    assert not artifacts.exists(tmp_path)


def test_index_metric_and_size_are_checked(artifacts_dir: Path) -> None:
    art = artifacts.load(artifacts_dir)
    with pytest.raises(ArtifactError, match="item_vectors"):
        ItemIndex.load(art.index_path, art.item_vectors[:10])
    import faiss

    l2 = faiss.IndexFlatL2(art.item_vectors.shape[1])
    l2.add(art.item_vectors)
    with pytest.raises(ArtifactError, match="metric"):
        ItemIndex(l2, art.item_vectors)


def test_write_makes_a_new_version_live_and_keeps_three(artifacts_dir: Path, tmp_path: Path) -> None:
    art = artifacts.load(artifacts_dir)
    root = tmp_path / "root"
    made = []
    for n in range(5):
        vectors = art.item_vectors.copy()
        vectors[0, 0] += n  # a different build each time
        index, _ = build_index(vectors)
        made.append(
            artifacts.write(
                root, items=art.items, item_vectors=vectors, index_bytes=serialize(index), neighbors=art.neighbors,
                popularity={"global": [0, 1], "trending": [1], "by_country": {}, "trending_by_country": {}},
                profiles=art.profiles, user_vectors=art.user_vectors, manifest={"source": "test"},
            )
        )  # fmt: skip
    assert artifacts.resolve(root) == made[-1]
    assert artifacts.load(root).path == made[-1]
    assert len([p for p in (root / "versions").iterdir() if not p.name.startswith(".")]) == 3
    assert np.allclose(artifacts.load(root).item_vectors[0, 0], art.item_vectors[0, 0] + 4)
