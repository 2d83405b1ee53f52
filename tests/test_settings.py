from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.settings import Settings


def test_defaults_need_no_environment() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url is None  # embedded store
    assert settings.deadline_ms == 50.0
    assert settings.max_body_bytes == 65536
    assert settings.content.name == "content.yaml" and settings.content.is_file()


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {"EDGE_REDIS_URL": "redis://r:6379/2", "EDGE_ARTIFACTS": "/x", "EDGE_ADMIN_TOKEN": "t",
         "EDGE_DEADLINE_MS": "20", "EDGE_BUILD_IF_MISSING": "no", "EDGE_CONTENT": "/c.yaml"}
    )  # fmt: skip
    assert settings.redis_url == "redis://r:6379/2"
    assert settings.artifacts == Path("/x")
    assert settings.deadline_ms == 20.0
    assert settings.build_if_missing is False
    assert settings.content == Path("/c.yaml")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EDGE_DEADLINE_MS", "fast"),
        ("EDGE_DEADLINE_MS", "-1"),
        ("EDGE_MAX_BODY_BYTES", "1.5"),
        ("EDGE_REDIS_URL", "localhost:6379"),
        ("EDGE_BUILD_IF_MISSING", "maybe"),
        ("EDGE_LOG_LEVEL", "chatty"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.message
