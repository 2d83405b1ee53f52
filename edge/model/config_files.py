"""The config files a deployment reads: content (EDGE_CONTENT) and experiments (EDGE_EXPERIMENTS).

Reading and decoding only; validation is the core's (`edge.core.content.parse_content`,
`edge.core.experiments.parse_experiments`), so a file and the same data decoded elsewhere get the
same verdict.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from edge.core.content import Content, parse_content
from edge.core.experiments import ExperimentsConfig, parse_experiments
from edge.errors import ConfigError

# libyaml's parser when PyYAML was built with it: the same safe constructors, so the same documents, about 10x
# faster on the packaged content file, which every start and reload reads
SAFE_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str) -> object:
    """`yaml.safe_load(text)`, with libyaml's parser when there is one."""
    return yaml.load(text, Loader=SAFE_LOADER)


def load_content(path: Path) -> Content:
    """Read and validate a content file (YAML or JSON)."""
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"content file {path} not found", field="EDGE_CONTENT") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"content file {path}: not valid YAML ({exc})", field="EDGE_CONTENT") from exc
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return parse_content(raw, source=str(path), version=digest)


def load_experiments(path: str | Path) -> ExperimentsConfig:
    """Read and validate an experiments file: YAML for .yaml/.yml, JSON otherwise."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: experiments file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read experiments file: {exc}") from exc
    try:
        data: object = read_yaml(text) if path.suffix.lower() in {".yaml", ".yml"} else json.loads(text)
    except (yaml.YAMLError, ValueError) as exc:
        kind = "YAML" if path.suffix.lower() in {".yaml", ".yml"} else "JSON"
        raise ConfigError(f"{path}: not valid {kind}: {exc}") from exc
    return parse_experiments({} if data is None else data, source=str(path))
