"""The search index is built at build time and shipped as a versioned artifact; older builds still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from edge.core.recommend import Model
from edge.core.textindex import TEXT_INDEX_FILE, TEXT_INDEX_VERSION, TextIndex, words
from edge.errors import ArtifactError
from edge.model import artifacts
from edge.model.index import ItemIndex


def _copy(artifacts_dir: Path, tmp_path: Path) -> Path:
    live = artifacts.resolve(artifacts_dir)
    target = tmp_path / "build"
    shutil.copytree(live, target)
    return target


def _model(path: Path) -> Model:
    art = artifacts.load(path)
    return Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))


def _query(art: artifacts.Artifacts) -> str:
    return " ".join(words(art.items[int(art.popularity.global_rows[3])].name)[:2])


def test_a_build_ships_the_text_index_and_the_service_serves_it(artifacts_dir: Path) -> None:
    path = artifacts.resolve(artifacts_dir)
    document = orjson.loads((path / TEXT_INDEX_FILE).read_bytes())
    assert document["format_version"] == TEXT_INDEX_VERSION
    art = artifacts.load(path)
    assert art.text is not None
    rebuilt = TextIndex.from_items(art.items, art.popularity.global_rows.tolist())
    assert dict(art.text.postings) == dict(rebuilt.postings)
    assert list(art.text.rank) == list(rebuilt.rank)
    model = Model.from_artifacts(art, ItemIndex.load(art.index_path, art.item_vectors))
    assert model.text is art.text  # loaded, not rebuilt
    rows, scores = model.text.search(_query(art))
    assert rows and rows == rebuilt.search(_query(art))[0] and scores == rebuilt.search(_query(art))[1]


def test_a_build_without_the_file_still_loads_and_searches_the_same(artifacts_dir: Path, tmp_path: Path) -> None:
    shipped = _model(artifacts.resolve(artifacts_dir))
    old = _copy(artifacts_dir, tmp_path)
    (old / TEXT_INDEX_FILE).unlink()
    art = artifacts.load(old)
    assert art.text is None
    model = _model(old)
    query = _query(art)
    assert model.text.search(query) == shipped.text.search(query)
    assert model.text.search(query)[0]


@pytest.mark.parametrize(
    "document",
    [
        {"format_version": TEXT_INDEX_VERSION + 1, "postings": {}, "idf": {}, "rank": []},
        {"format_version": TEXT_INDEX_VERSION, "postings": {"mug": [10**9]}, "idf": {"mug": 1.0}, "rank": []},
    ],
)
def test_an_unreadable_text_index_stops_the_load_naming_the_file(
    artifacts_dir: Path, tmp_path: Path, document: dict[str, object]
) -> None:
    bad = _copy(artifacts_dir, tmp_path)
    (bad / TEXT_INDEX_FILE).write_bytes(orjson.dumps(document))
    with pytest.raises(ArtifactError, match=TEXT_INDEX_FILE):
        artifacts.load(bad)
