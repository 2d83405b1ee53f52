"""Experiments config: validation messages, targeting, holdout, forcing, namespaces, split quality."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from scipy.stats import chisquare

from edge.core.bucketing import hash_v2
from edge.core.experiments import (
    Assignment,
    ExperimentsConfig,
    assign,
    parse_experiments,
)
from edge.errors import ConfigError
from edge.model.config_files import load_experiments

DATA = Path(__file__).parent / "data"
MATCHING = {"segment": "campaign", "country": "NL", "page": "home", "device": "mobile"}


def _sessions(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [f"s-{rng.getrandbits(64):016x}" for _ in range(n)]


def _config(**experiment: Any) -> dict[str, Any]:
    """One 50/50 experiment `exp`, overridable field by field; no holdout."""
    base: dict[str, Any] = {
        "key": "exp",
        "arms": [{"key": "control", "weight": 0.5}, {"key": "b", "weight": 0.5, "variant": "home-b"}],
    }
    base.update(experiment)
    return {"experiments": [base]}


def _parse(data: dict[str, Any]) -> ExperimentsConfig:
    return parse_experiments(data, source="test.yaml")


# --- loading --------------------------------------------------------------------------------------


def test_valid_file_loads_into_frozen_values() -> None:
    config = load_experiments(DATA / "experiments_valid.yaml")
    assert config.source == str(DATA / "experiments_valid.yaml")
    assert (config.holdout.percent, config.holdout.seed) == (5.0, "global-holdout")
    assert [e.key for e in config.experiments] == ["hero-test", "cta-copy", "ranking-blend"]
    hero = config.experiments[0]
    assert (hero.seed, hero.unit, hero.coverage, hero.namespace) == (
        "hero-test",
        "user_id",
        1.0,
        ("homepage", 0.0, 0.5),
    )
    assert hero.when == {"segment": frozenset({"new_visitor", "campaign"}), "country": frozenset({"NL", "BE"})}
    assert hero.ranges == ((0.0, 0.5), (0.5, 1.0))
    b = hero.arms[1]
    assert (b.key, b.weight, b.variant) == ("b", 0.5, "home-lifestyle")
    assert b.content["nl"]["cta_text"] == "Shop de look"
    assert b.ranking.strategy == "popular"
    assert b.ranking.weights == {"similar_to_viewed": 2.0, "best_seller": 0.5}
    assert config.experiments[2].ranges == ((0.0, 0.25), (0.5, 0.75))
    with pytest.raises(TypeError):
        b.content["nl"]["cta_text"] = "changed"  # type: ignore[index]


def test_version_is_a_content_hash_independent_of_format_and_path(tmp_path: Path) -> None:
    data = yaml.safe_load((DATA / "experiments_valid.yaml").read_text())
    as_json = tmp_path / "experiments.json"
    as_json.write_text(json.dumps(data, indent=4))
    from_yaml = load_experiments(DATA / "experiments_valid.yaml")
    from_json = load_experiments(as_json)
    assert len(from_yaml.version) == 12 and int(from_yaml.version, 16) >= 0
    assert from_json.version == from_yaml.version
    assert from_json.experiments == from_yaml.experiments

    data["experiments"][0]["arms"][0]["weight"] = 0.4
    data["experiments"][0]["arms"][1]["weight"] = 0.6
    assert parse_experiments(data, source="x").version != from_yaml.version


def test_the_listing_describes_the_config() -> None:
    config = load_experiments(DATA / "experiments_valid.yaml")
    body = json.loads(msgspec.json.encode(config.listing()))
    assert body["version"] == config.version
    assert body["holdout"] == {"percent": 5.0, "seed": "global-holdout"}
    hero = body["experiments"][0]
    assert hero["namespace"] == {"id": "homepage", "start": 0.0, "end": 0.5}
    assert hero["when"] == {"segment": ["campaign", "new_visitor"], "country": ["BE", "NL"]}
    assert hero["arms"][1]["ranking"]["weights"] == {"similar_to_viewed": 2.0, "best_seller": 0.5}
    assert hero["ranges"] == [[0.0, 0.5], [0.5, 1.0]]


def test_empty_config_assigns_nothing() -> None:
    config = ExperimentsConfig.empty()
    assert config.experiments == () and config.holdout.percent == 0
    assert len(config.version) == 12
    assert assign(config, "u1", "s1", MATCHING) == Assignment(holdout=False, arms=())


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("bad_weight", "experiments[0] (hero-test).arms[1].weight: must be a number in [0, 1]"),
        ("bad_when", "experiments[1] (geo-test).when.browser: unknown targeting attribute"),
        ("bad_template", "experiments[0] (greeting-test).arms[1].content.nl.greeting: unknown placeholder {balance}"),
        ("bad_duplicate", "experiments[1] (hero-test).key: duplicate experiment key (also experiments[0])"),
        ("bad_yaml_boolean", "experiments[0] (nordic-test).when.country[1]: must be a non-empty string, got a boolean"),
        ("bad_syntax", "not valid YAML"),
        ("missing", "experiments file not found"),
    ],
)
def test_bad_files_name_file_experiment_and_field(name: str, fragment: str) -> None:
    path = DATA / f"experiments_{name}.yaml"
    with pytest.raises(ConfigError) as info:
        load_experiments(path)
    assert str(info.value).startswith(f"{path}: ")
    assert fragment in str(info.value)


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "experiments.json"
    path.write_text('{"experiments": [}')
    with pytest.raises(ConfigError, match=r"experiments\.json: not valid JSON"):
        load_experiments(path)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting `value` at a dotted path (list indexes as numbers) of a config dict."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


INVALID: list[tuple[Callable[[dict[str, Any]], None], str, str]] = [
    (_set("experiments.0.arms.1.weight", 0.6), "experiments[0] (exp).arms", "weights must sum to 1, got 1.1"),
    (_set("experiments.0.arms.1.weight", "half"), "experiments[0] (exp).arms[1].weight", "must be a number in [0, 1]"),
    (_set("experiments.0.arms.1.weight", True), "experiments[0] (exp).arms[1].weight", "got a boolean"),
    (_set("experiments.0.arms.1.key", "control"), "experiments[0] (exp).arms[1].key", "duplicate arm key 'control'"),
    (_set("experiments.0.arms", [{"key": "solo", "weight": 1}]), "experiments[0] (exp).arms", "at least 2 arms"),
    (_set("experiments.0.coverage", 1.5), "experiments[0] (exp).coverage", "must be a number in [0, 1]"),
    (_set("experiments.0.coverage", -0.1), "experiments[0] (exp).coverage", "must be a number in [0, 1]"),
    (_set("experiments.0.unit", "device_id"), "experiments[0] (exp).unit", "must be one of user_id, session_id"),
    (_set("experiments.0.version", 0), "experiments[0] (exp).version", "must be an integer >= 1"),
    (_set("experiments.0.key", "has space"), "experiments[0].key", "must be 1-64 characters"),
    (_set("experiments.0.when", {"mood": ["calm"]}), "experiments[0] (exp).when.mood", "unknown targeting"),
    (_set("experiments.0.when", {"country": "NL"}), "experiments[0] (exp).when.country", "must be a list"),
    (_set("experiments.0.when", {"country": []}), "experiments[0] (exp).when.country", "at least one allowed value"),
    (
        _set("experiments.0.namespace", {"id": "hp", "start": 0.6, "end": 0.4}),
        "experiments[0] (exp).namespace",
        "start",
    ),
    (_set("experiments.0.covrage", 0.5), "experiments[0] (exp).covrage", "unknown field"),
    (
        _set("experiments.0.arms.1.ranking", {"weights": {"popularity": 1}}),
        ".arms[1].ranking.weights.popularity",
        "reason",
    ),
    (_set("experiments.0.arms.1.ranking", {"weights": {"for_you": -1}}), ".ranking.weights.for_you", "non-negative"),
    (_set("experiments.0.arms.1.ranking", {"max_category_share": 0.5}), ".ranking.max_category_share", "(0, 1/3]"),
    (_set("experiments.0.arms.1.ranking", {"max_category_share": 0}), ".ranking.max_category_share", "(0, 1/3]"),
    (_set("experiments.0.arms.1.ranking", {"strategy": "random"}), ".arms[1].ranking.strategy", "learned, popular"),
    (_set("experiments.0.arms.1.ranking", {"boost": 2}), ".arms[1].ranking.boost", "unknown field"),
    (_set("experiments.0.arms.1.content", {"nl-NL": {"greeting": "Hoi"}}), ".content.nl-NL", "2-letter"),
    (_set("experiments.0.arms.1.content", {"en": {"greeting": "Hi {0}"}}), ".content.en.greeting", "placeholder {0}"),
    (_set("experiments.0.arms.1.content", {"en": {"greeting": "Hi {first_name"}}), ".content.en.greeting", "malformed"),
    (_set("experiments.0.arms.1.content", {"en": {"greeting": "{points:>9}"}}), ".content.en.greeting", "format spec"),
    (_set("experiments.0.arms.1.content", {"en": {"greeting": "{first_name.x}"}}), ".content.en.greeting", "unknown"),
    (_set("experiments.0.arms.1.variant", ""), "experiments[0] (exp).arms[1].variant", "non-empty string"),
    (_set("holdout", {"percent": 101}), "holdout.percent", "must be a number in [0, 100]"),
    (_set("holdout", {"percent": 5, "seed": ""}), "holdout.seed", "non-empty string"),
    (_set("rollouts", []), "(top level).rollouts", "unknown field"),
    (_set("experiments", {"key": "exp"}), "experiments", "must be a list"),
]


@pytest.mark.parametrize(("mutate", "field", "fragment"), INVALID, ids=[f"{f}-{m}" for _, f, m in INVALID])
def test_invalid_config_names_experiment_and_field(
    mutate: Callable[[dict[str, Any]], None], field: str, fragment: str
) -> None:
    data = copy.deepcopy(_config())
    mutate(data)
    with pytest.raises(ConfigError) as info:
        _parse(data)
    message = str(info.value)
    assert message.startswith("test.yaml: ")
    assert field in message and fragment in message, message
    assert info.value.field is not None and info.value.field.endswith(field.lstrip("."))


def test_shared_namespace_must_not_overlap_or_mix_units() -> None:
    arms = [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]
    first = {"key": "one", "arms": arms, "namespace": {"id": "hp", "start": 0.0, "end": 0.5}}
    overlapping = {"key": "two", "arms": arms, "namespace": {"id": "hp", "start": 0.4, "end": 1.0}}
    with pytest.raises(ConfigError, match=r"experiments\[1\] \(two\)\.namespace: \[0\.4, 1\) overlaps .*\(one\)"):
        _parse({"experiments": [first, overlapping]})
    other_unit = {**overlapping, "namespace": {"id": "hp", "start": 0.5, "end": 1.0}, "unit": "session_id"}
    with pytest.raises(ConfigError, match=r"experiments\[1\] \(two\)\.namespace: unit session_id differs"):
        _parse({"experiments": [first, other_unit]})
    elsewhere = {**overlapping, "namespace": {"id": "pricing", "start": 0.4, "end": 1.0}}
    assert len(_parse({"experiments": [first, elsewhere]}).experiments) == 2


# --- assignment -----------------------------------------------------------------------------------


def test_assignment_is_deterministic_and_uses_the_experiment_seed() -> None:
    config = load_experiments(DATA / "experiments_valid.yaml")
    again = load_experiments(DATA / "experiments_valid.yaml")
    for session in _sessions(500):
        first = assign(config, "17850", session, MATCHING)
        assert first == assign(config, "17850", session, MATCHING) == assign(again, "17850", session, MATCHING)
    arm = assign(_parse(_config()), None, "s-8f2c01", MATCHING).arms[0]
    assert arm.bucket == round(hash_v2("exp", "s-8f2c01"), 4)
    assert arm.arm == ("control" if arm.bucket < 0.5 else "b")
    assert arm.to_json() == {"key": "exp", "arm": arm.arm, "bucket": arm.bucket}


def test_unit_is_user_id_when_known_else_session_id() -> None:
    by_user = _parse(_config(unit="user_id"))
    by_session = _parse(_config(unit="session_id"))
    sessions = _sessions(200)
    # a known user keeps one bucket across sessions ...
    assert {assign(by_user, "17850", s, {}).arms[0].bucket for s in sessions} == {round(hash_v2("exp", "17850"), 4)}
    # ... an anonymous one, and any session-unit experiment, buckets by session
    for s in sessions[:20]:
        assert assign(by_user, None, s, {}).arms[0].bucket == round(hash_v2("exp", s), 4)
        assert assign(by_user, "", s, {}).arms[0].bucket == round(hash_v2("exp", s), 4)
        assert assign(by_session, "17850", s, {}).arms[0].bucket == round(hash_v2("exp", s), 4)


def test_targeting_requires_every_listed_attribute() -> None:
    config = _parse(_config(when={"segment": ["new_visitor", "campaign"], "country": ["NL", "BE"]}))

    def enrolled(attributes: dict[str, str | None]) -> bool:
        return bool(assign(config, None, "s-1", attributes).arms)

    assert enrolled({"segment": "campaign", "country": "BE"})
    assert enrolled({"segment": "new_visitor", "country": "NL", "device": "mobile"})
    assert not enrolled({"segment": "active", "country": "NL"})
    assert not enrolled({"segment": "campaign", "country": "DE"})
    assert not enrolled({"segment": "campaign"})
    assert not enrolled({"segment": "campaign", "country": None})
    assert not enrolled({"segment": "campaign", "country": "nl"})


def test_holdout_takes_about_its_share_and_gets_no_experiments() -> None:
    data = _config()
    data["holdout"] = {"percent": 5, "seed": "global-holdout"}
    config = _parse(data)
    results = [assign(config, None, s, MATCHING) for s in _sessions(20_000)]
    held = [r for r in results if r.holdout]
    assert 0.04 <= len(held) / len(results) <= 0.06
    assert all(r.arms == () for r in held)
    assert all(len(r.arms) == 1 for r in results if not r.holdout)
    # the holdout unit is the user when known: one user is in or out whatever the session
    for i in range(300):
        user = f"u{i}"
        assert len({assign(config, user, s, MATCHING).holdout for s in _sessions(5, seed=i)}) == 1
    assert not any(assign(_parse(_config()), None, s, MATCHING).holdout for s in _sessions(2_000))


def test_forced_arm_overrides_targeting_coverage_and_holdout() -> None:
    data = _config(coverage=0.0, when={"country": ["BE"]})
    data["holdout"] = {"percent": 100}
    config = _parse(data)
    assert assign(config, None, "s-1", MATCHING) == Assignment(holdout=True, arms=())
    forced = assign(config, None, "s-1", MATCHING, forced={"exp": "b"})
    assert forced.holdout is True
    assert [(a.experiment, a.arm, a.variant, a.forced) for a in forced.arms] == [("exp", "b", "home-b", True)]
    # forcing one experiment does not let a held-out unit into the others
    other = {"key": "other", "arms": [{"key": "x", "weight": 0.5}, {"key": "y", "weight": 0.5}]}
    both = _parse({**data, "experiments": [*data["experiments"], other]})
    assert [a.experiment for a in assign(both, None, "s-1", MATCHING, forced={"exp": "b"}).arms] == ["exp"]
    # an unknown arm or experiment key is ignored: normal assignment applies
    assert assign(config, None, "s-1", MATCHING, forced={"exp": "zzz", "nope": "b"}).arms == ()
    open_config = _parse(_config())
    normal = assign(open_config, None, "s-1", MATCHING)
    assert assign(open_config, None, "s-1", MATCHING, forced={"exp": "zzz"}) == normal
    assert normal.arms[0].forced is False


def test_coverage_enrolls_its_share() -> None:
    config = _parse(_config(coverage=0.5))
    enrolled = sum(bool(assign(config, None, s, {}).arms) for s in _sessions(20_000))
    assert 0.48 <= enrolled / 20_000 <= 0.52
    assert not any(assign(_parse(_config(coverage=0.0)), None, s, {}).arms for s in _sessions(2_000))


def test_namespaces_are_mutually_exclusive() -> None:
    config = load_experiments(DATA / "experiments_valid.yaml")
    counts: Counter[tuple[str, ...]] = Counter()
    for session in _sessions(10_000):
        result = assign(config, None, session, {**MATCHING, "page": "search"})
        counts[tuple(a.experiment for a in result.arms)] += 1
    assert counts[("hero-test", "cta-copy")] == 0
    in_hero, in_cta = counts[("hero-test",)], counts[("cta-copy",)]
    # hero-test and cta-copy split the homepage namespace; holdout takes ~5 %
    assert 0.42 <= in_hero / 10_000 <= 0.53 and 0.42 <= in_cta / 10_000 <= 0.53
    assert in_hero + in_cta + counts[()] == 10_000


def test_version_bump_re_randomizes() -> None:
    v1 = _parse(_config(version=1))
    v2 = _parse(_config(version=2))
    assert v1.experiments[0].seed == "exp" and v2.experiments[0].seed == "exp:v2"
    assert _parse(_config(seed="custom", version=3)).experiments[0].seed == "custom:v3"
    sessions = _sessions(10_000)
    moved = sum(assign(v1, None, s, {}).arms[0].arm != assign(v2, None, s, {}).arms[0].arm for s in sessions)
    assert 0.45 <= moved / len(sessions) <= 0.55  # independent re-draw: half change arm in a 50/50 split
    for s in sessions[:50]:
        assert assign(v2, None, s, {}).arms[0].bucket == round(hash_v2("exp:v2", s), 4)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.2, 0.3, 0.5]])
def test_split_matches_weights_chi_square(weights: list[float]) -> None:
    arms = [{"key": f"arm{i}", "weight": w} for i, w in enumerate(weights)]
    config = _parse({"experiments": [{"key": "split-test", "arms": arms}]})
    n = 20_000
    counts = Counter(assign(config, None, s, {}).arms[0].arm for s in _sessions(n, seed=99))
    observed = [counts[f"arm{i}"] for i in range(len(weights))]
    assert sum(observed) == n
    assert chisquare(observed, [w * n for w in weights]).pvalue > 0.01


def test_assignment_to_json_is_the_contract_list() -> None:
    config = load_experiments(DATA / "experiments_valid.yaml")
    result = next(r for s in _sessions(100) if (r := assign(config, None, s, MATCHING)).arms)
    items = result.to_json()
    assert items == [{"key": a.experiment, "arm": a.arm, "bucket": a.bucket} for a in result.arms]
    assert all(round(a.bucket, 4) == a.bucket for a in result.arms)
