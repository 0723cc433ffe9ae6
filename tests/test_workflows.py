"""The GitHub workflows are valid and only call commands this repository has."""

from __future__ import annotations

import json
import re
import shlex
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from roads import cli
from tests.conftest import REPO

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def workflow_schema() -> dict:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "github-workflows.json").read_text())


def dev_commands() -> set[str]:
    text = (REPO / "dev").read_text()
    return set(re.findall(r"^(\w+)\)$", text, re.M))


def roads_commands() -> set[str]:
    return set(cli.COMMANDS)


def load(path: Path) -> dict:
    """A workflow as GitHub reads it: YAML 1.1 turns the key ``on`` into True; undo that."""
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def commands_of(line: str) -> list[list[str]]:
    """The simple commands of one shell line, split at ``&&``, ``||``, ``;`` and ``|``."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, words = [], []
    for token in lexer:
        if token in ("&&", "||", ";", "|", "(", ")", "{", "}", ">", ">>", "2>"):
            if words:
                commands.append(words)
            words = []
        else:
            words.append(token)
    if words:
        commands.append(words)
    return commands


def run_lines(doc: dict):
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            for line in step.get("run", "").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    yield line


def test_there_are_three_workflows():
    assert {p.stem for p in WORKFLOWS} == {"checks", "refresh", "publish"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_matches_the_schema(path: Path):
    doc = load(path)
    jsonschema.validate(doc, workflow_schema())


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_calls_commands_that_exist(path: Path):
    doc = load(path)
    called = 0
    for line in run_lines(doc):
        for words in commands_of(line):
            if words[0] == "./dev":
                assert words[1] in dev_commands(), f"{path.name}: ./dev {words[1]} does not exist"
                called += 1
            elif words[0] == ".venv/bin/roads":
                assert words[1] in roads_commands(), f"{path.name}: roads {words[1]} does not exist"
                called += 1
            elif words[0] == "gh" and words[1:3] == ["workflow", "run"]:
                assert (REPO / ".github" / "workflows" / words[3]).exists()
    assert called, f"{path.name} runs none of the project's commands"


def test_checks_can_be_dispatched_by_the_refresh_workflow():
    checks = load(REPO / ".github/workflows/checks.yml")
    assert "workflow_dispatch" in checks["on"]
    refresh = (REPO / ".github/workflows/refresh.yml").read_text()
    assert "gh workflow run checks.yml" in refresh


def test_publish_builds_frozen_and_deploys_pages():
    doc = load(REPO / ".github/workflows/publish.yml")
    steps = doc["jobs"]["build"]["steps"]
    build = next(s for s in steps if s.get("run", "").startswith("./dev build"))
    assert build["env"]["ROADS_MODE"] == "frozen"
    uses = [s.get("uses", "") for job in doc["jobs"].values() for s in job["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)


TOKEN = re.compile(r"secrets\.|GH_TOKEN|GITHUB_TOKEN")


def test_refresh_holds_a_token_only_where_it_pushes():
    # The capture steps run the repository's samples, gcc and gdb: no token in their
    # environment, none left in .git/config by checkout (issue 9, item 6).
    doc = load(REPO / ".github/workflows/refresh.yml")
    job = doc["jobs"]["refresh"]
    assert not TOKEN.search(json.dumps(doc.get("env", {}))), "a workflow-wide token"
    assert not TOKEN.search(json.dumps(job.get("env", {}))), "a job-wide token"
    holders = []
    for step in job["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
            assert "token" not in step["with"]
            continue
        if TOKEN.search(json.dumps({k: v for k, v in step.items() if k != "if"})):
            holders.append(step["name"])
    assert holders == ["Open or update the pull request"]
    capture = next(s for s in job["steps"] if "capture --refresh" in s.get("run", ""))
    assert "env" not in capture
