"""The README's first command: `doiflow dev`, everything embedded, driven like a newcomer would."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.harness import (
    BIN,
    Harness,
    Process,
    clean_environment,
    free_port,
    http_ok,
    wait_until,
)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """No Postgres, Redis or DataCite settings at all: `doiflow dev` brings its own."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    workdir = tmp_path / "first-try"
    workdir.mkdir()
    manager = Harness(log_dir=log_dir, env=clean_environment({}), cwd=workdir)
    try:
        yield manager
    finally:
        manager.stop_all()


def printed_curl(text: str, method: str) -> list[str]:
    """The words of the first printed `curl … -X {method}` command, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    line = next((ln for ln in joined.splitlines() if "curl" in ln and f"-X {method}" in ln), None)
    assert line is not None, f"no curl -X {method} command printed:\n{text}"
    return shlex.split(line[line.index("curl") :])


def run_curl(words: list[str]) -> requests.Response:
    """Do what a printed `curl -s -X M URL -H … -d …` command does, with requests."""
    method, url, headers, data = "GET", None, {}, None
    args = iter(words[1:])
    for word in args:
        if word == "-X":
            method = next(args)
        elif word == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            data, method = next(args), method if method != "GET" else "POST"
        elif word.startswith("http"):
            url = word
    assert url is not None, f"no URL in {words}"
    return requests.request(method, url, headers=headers, data=data, timeout=10)


def test_doiflow_dev_prints_a_working_first_try(harness: Harness) -> None:
    # Given `doiflow dev` started in an empty directory with PORT free
    port = free_port()
    dev = start_dev(harness, port)
    text = dev.log_text()

    # Then it prints the API URL, a token and the sandbox's DOI list
    api_url = re.search(r"^\s*API\s+(http\S+)", text, re.MULTILINE)
    token = re.search(r"API token\s+(\S+)", text)
    sandbox_dois = re.search(r"(http\S+/__sandbox/dois)", text)
    assert api_url, text
    assert token, text
    assert sandbox_dois, text
    assert api_url.group(1) == f"http://127.0.0.1:{port}/api"
    dev.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 10, "GET /healthz")
    assert (harness.cwd / "var").is_dir(), "the SQLite database belongs under ./var/"

    # When the printed create command is run
    words = printed_curl(text, "POST")
    assert f"Authorization: Bearer {token.group(1)}" in words, words
    created = run_curl(words)

    # Then the dataset exists and its concept DOI is a draft in the sandbox within 2 seconds
    assert created.status_code == 201, created.text
    doi = created.json()["concept_doi"]["doi"]

    def draft_in_sandbox() -> bool:
        listed = requests.get(sandbox_dois.group(1), timeout=2).json()
        return any(d["doi"] == doi and d["state"] == "draft" for d in listed)

    wait_until(draft_in_sandbox, 2, f"{doi} as a draft in {sandbox_dois.group(1)}")

    # When the printed upload-and-publish example is run in a shell
    script = printed_block(text, "Then upload a file and publish it")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=harness.cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    # Then the version's one blob is held and its job finishes (held before its DOI)
    headers = {"Authorization": f"Bearer {token.group(1)}"}

    def version_held() -> dict | None:
        body = requests.get(f"{api_url.group(1)}/datasets/demo-1", headers=headers, timeout=2)
        versions = body.json()["versions"]
        return versions[0] if versions and versions[0]["holds"] == {"on": 1, "total": 1} else None

    held = wait_until(version_held, 10, "version 1.0 of demo-1 with its one hold on")
    assert held["version"] == "1.0"
    published = next(line for line in done.stdout.splitlines() if '"job"' in line)
    job = requests.get(
        f"{api_url.group(1)}/jobs/{json.loads(published)['job']['id']}", headers=headers, timeout=2
    ).json()
    wait_until(
        lambda: (
            requests.get(f"{api_url.group(1)}/jobs/{job['id']}", headers=headers, timeout=2).json()[
                "status"
            ]
            == "finished"
        ),
        10,
        "the publish job to finish",
    )


def start_dev(
    harness: Harness, port: int, sandbox_port: int = 0, env: dict[str, str] | None = None
) -> Process:
    """`doiflow dev` on `port` (sandbox on `sandbox_port`, 0: any, since tests run in
    parallel and 5300 is the default), once it printed its welcome."""
    dev = harness.start(
        "dev",
        [str(BIN / "doiflow"), "dev", "--sandbox-port", str(sandbox_port)],
        env={"PORT": str(port), **(env or {})},
    )
    offset = len(dev.log_text())
    dev.wait_ready(lambda: "Stop with Ctrl-C" in dev.log_text()[offset:], 60, "the welcome")
    return dev


def run_printed(text: str, heading: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the shell lines printed under `heading` in bash, as a person would paste them."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", printed_block(text, heading)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_restart_keeps_the_token_the_sandbox_dois_and_the_port(harness: Harness) -> None:
    # Given `doiflow dev` with a dataset whose concept DOI is a draft in the sandbox
    port, sandbox_port = free_port(), free_port()
    dev = start_dev(harness, port, sandbox_port)
    first = dev.log_text()
    token = re.search(r"API token\s+(\S+)", first)
    assert token, first
    created = run_curl(printed_curl(first, "POST"))
    assert created.status_code == 201, created.text
    doi = created.json()["concept_doi"]["doi"]
    sandbox = f"http://127.0.0.1:{sandbox_port}/__sandbox/dois"

    def draft_in_sandbox() -> bool:
        listed = requests.get(sandbox, timeout=2).json()
        return any(d["doi"] == doi and d["state"] == "draft" for d in listed)

    wait_until(draft_in_sandbox, 10, f"{doi} as a draft in the sandbox")
    headers = {"Authorization": f"Bearer {token.group(1)}"}

    def draft_in_doiflow() -> bool:
        dataset = requests.get(f"{created.url}/demo-1", headers=headers, timeout=5).json()
        return bool(dataset["concept_doi"]["state"] == "draft")

    wait_until(draft_in_doiflow, 10, f"{doi} as a draft in doiflow")
    assert (harness.cwd / "var" / "sandbox.json").exists()

    # When it is stopped and started again in the same folder
    harness.stop("dev")
    offset = len(dev.log_text())
    dev = start_dev(harness, port, sandbox_port)
    second = dev.log_text()[offset:]

    # Then it prints the same token, which still works, and the sandbox still has the DOI
    assert f"API token      {token.group(1)}" in second, second
    assert sandbox in second
    wait_until(draft_in_sandbox, 10, f"{doi} still a draft in the restarted sandbox")
    assert draft_in_doiflow()
    # And alembic said nothing (no plugin or migration INFO lines)
    assert "alembic" not in first + second, first + second


def test_with_doi_publish_the_printed_steps_make_findable_dois(harness: Harness) -> None:
    # Given `doiflow dev` with DOI_PUBLISH=true
    port = free_port()
    dev = start_dev(harness, port, env={"DOI_PUBLISH": "true"})
    text = dev.log_text()
    token = re.search(r"API token\s+(\S+)", text)
    assert token, text
    # When the printed create, then the printed upload and publish, run
    created = run_curl(printed_curl(text, "POST"))
    assert created.status_code == 201, created.text
    done = run_printed(text, "Then upload a file and publish it", harness.cwd)
    assert done.returncode == 0, done.stderr
    published = json.loads(next(line for line in done.stdout.splitlines() if '"job"' in line))
    assert published["version"]["doi"]["doi"], published

    # Then the version DOI and the concept DOI both become findable: the printed metadata
    # is complete kernel-4 for both, so DataCite accepts them leaving draft
    sandbox_dois = re.search(r"(http\S+/__sandbox/dois)", text)
    assert sandbox_dois, text
    wanted = {created.json()["concept_doi"]["doi"], published["version"]["doi"]["doi"]}

    def both_findable() -> dict[str, str]:
        listed = requests.get(sandbox_dois.group(1), timeout=2).json()
        states = {d["doi"]: d["state"] for d in listed if d["doi"] in wanted}
        return states if set(states.values()) == {"findable"} and len(states) == 2 else {}

    wait_until(both_findable, 20, "the concept and version DOIs findable in the sandbox")


def printed_block(text: str, heading: str) -> str:
    """The indented shell lines printed under `heading`, up to the next blank line."""
    lines = text.split(heading, 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if not line.strip():
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))
