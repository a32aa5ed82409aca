"""One chaos run, start to finish: stack up, chaos, settle, judge, report, clean up."""

from __future__ import annotations

import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ops.chaos import verdict
from ops.chaos.config import ChaosConfig
from ops.chaos.faults import Chaos
from ops.chaos.findings import Finding
from ops.chaos.journal import Entry, Journal
from ops.chaos.observe import all_intents, wait_drained
from ops.chaos.operations import Client, Lifecycle
from ops.chaos.report import Duplicate, duplicates, keep
from ops.chaos.sandbox import SandboxControl
from ops.chaos.scenarios import ScenarioRunner
from ops.chaos.stack import Stack

Say = Callable[[str], None]


@dataclass
class Result:
    """What a run found."""

    findings: list[Finding]
    duplicates: list[Duplicate]
    entries: dict[str, Entry]
    operations: int
    scripted: int
    wire_count: int
    seconds: float
    log_dir: Path | None
    chaos_log: list[tuple[float, str]] = field(default_factory=list)


def run(config: ChaosConfig, say: Say) -> Result:
    """Run the whole thing; processes, database and temp files are gone afterwards."""
    started = time.monotonic()
    work = config.keep_logs or Path(tempfile.mkdtemp(prefix="doiflow-chaos-"))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    stack = Stack(config, work / "logs")
    try:
        say(f"starting the stack (logs in {work / 'logs'})")
        stack.start()
        say(f"stack up: API {stack.api_url}, sandbox {stack.sandbox_url}")
        return _run(stack, config, say, started)
    finally:
        stack.close()
        if config.keep_logs is None:
            shutil.rmtree(work, ignore_errors=True)


@dataclass
class Actors:
    """The clients, the scenario runner and the chaos thread of one run."""

    clients: list[Client]
    runner: ScenarioRunner
    chaos: Chaos
    journals: list[Journal]
    stop: threading.Event


def _run(stack: Stack, config: ChaosConfig, say: Say, started: float) -> Result:
    sandbox = SandboxControl(stack.sandbox_url)
    actors = _actors(stack, sandbox, config, say)
    _play(actors, say)
    early = _settle(stack, sandbox, config, say) + _chaos_errors(actors.chaos)
    outcome = verdict.judge(stack, sandbox, config, actors.journals, early, say)
    wire = stack.wiretap.entries()
    result = Result(
        findings=outcome.findings,
        duplicates=duplicates(wire),
        entries={e.ref: e for e in outcome.entries},
        operations=sum(c.done for c in actors.clients),
        scripted=len(actors.runner.lifecycle.api.journal.snapshot()),
        wire_count=len(wire),
        seconds=time.monotonic() - started,
        log_dir=config.keep_logs,
        chaos_log=actors.chaos.log,
    )
    if config.keep_logs is not None:
        _keep(config, stack, result, outcome)
    return result


def _keep(config: ChaosConfig, stack: Stack, result: Result, outcome: verdict.Verdict) -> None:
    """Leave the evidence beside the process logs."""
    keep(
        config.keep_logs or Path("."),
        {
            "summary": {
                "seed": config.seed,
                "operations": result.operations,
                "scripted": result.scripted,
                "findings": len(result.findings),
                "duplicates": len(result.duplicates),
                "seconds": round(result.seconds),
            },
            "findings": outcome.findings,
            "journal": outcome.entries,
            "chaos-schedule": [{"at": at, "event": text} for at, text in result.chaos_log],
            "wiretap": stack.wiretap.entries(),
            "sandbox-requests": outcome.after_redrive.requests,
            "dois-after-chaos": outcome.after_chaos.dois,
            "dois-after-redrive": outcome.after_redrive.dois,
            "outbox": all_intents(stack.database_url),
        },
    )


def _actors(stack: Stack, sandbox: SandboxControl, config: ChaosConfig, say: Say) -> Actors:
    stop, done = threading.Event(), threading.Event()
    progress = _progress(config.operations, say)
    think = config.spread_seconds * config.clients / max(1, config.operations)
    journals, clients = [], []
    for index, count in enumerate(_split(config.operations, config.clients), 1):
        lifecycle = _lifecycle(stack, Journal(f"c{index}"))
        journals.append(lifecycle.api.journal)
        clients.append(
            Client(
                f"c{index}",
                lifecycle,
                seed=config.seed,
                count=count,
                think_seconds=think,
                stop=stop,
                on_operation=progress,
            )
        )
    scripted = _lifecycle(stack, Journal("s"))
    journals.append(scripted.api.journal)
    rng = random.Random(f"{config.seed}/scenarios")
    runner = ScenarioRunner(scripted, sandbox, stack.wiretap, stack, config, rng, say)
    return Actors(clients, runner, Chaos(runner, config.seed, done, say), journals, stop)


def _lifecycle(stack: Stack, journal: Journal) -> Lifecycle:
    return Lifecycle.over(stack.api_url, stack.token, stack.operator_token, journal)


def _play(actors: Actors, say: Say) -> None:
    """Run the clients and the chaos until both are done."""
    actors.chaos.start()
    for client in actors.clients:
        client.start()
    try:
        for client in actors.clients:
            client.join()
    finally:
        actors.stop.set()  # on Ctrl-C too: no client keeps calling a stack being torn down
    say("clients done; the chaos finishes its round")
    actors.chaos.clients_done.set()
    actors.chaos.join()


def _settle(stack: Stack, sandbox: SandboxControl, config: ChaosConfig, say: Say) -> list[Finding]:
    """Clear faults, bring every process up (reporting any that died on its own), drain."""
    sandbox.clear_faults()
    findings = []
    for name in stack.down():
        process = stack.harness.processes[name]
        findings.append(
            Finding(
                "process-exited",
                None,
                None,
                f"{name} keeps running (chaos restarts what it kills)",
                f"exited with status {process.exit_status()}",
                detail=process.tail(15),
            )
        )
        stack.restart(name)
    say("chaos stopped; waiting for the outbox to drain")
    if not wait_drained(stack.database_url, config.settle_timeout):
        say(f"the outbox did not drain within {config.settle_timeout:g} s")
    return findings


def _chaos_errors(chaos: Chaos) -> list[Finding]:
    """Events the schedule could not carry out (a process that would not come back)."""
    return [
        Finding("chaos-event-failed", None, None, "the event ran", error) for error in chaos.errors
    ]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def _progress(total: int, say: Say) -> Callable[[], None]:
    lock, count = threading.Lock(), [0]

    def tick() -> None:
        """Count one operation; report every 25th."""
        with lock:
            count[0] += 1
            if count[0] % 25 == 0 or count[0] == total:
                say(f"operations: {count[0]}/{total}")

    return tick
