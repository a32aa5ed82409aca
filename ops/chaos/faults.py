"""The chaos schedule: seeded process kills, Redis restarts, DataCite faults and scenarios.

The schedule is a sequence of rounds. Each round is random events, then every
targeted race (in a seeded order), more random events, the doi-worker outage, and a
last stretch of random events. The seed fixes the sequence, the pauses and every
fault rule; how the processes interleave with it still varies from run to run.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ops.chaos.scenarios import RACES, Scenario, ScenarioRunner, worker_outage
from ops.chaos.stack import RELAYS, WORKERS

RANDOM_BEFORE, RANDOM_BETWEEN, RANDOM_AFTER = 6, 4, 4


@dataclass(frozen=True)
class Event:
    """One thing the schedule does, after `pause` seconds."""

    kind: str
    pause: float
    target: str | None = None
    seconds: float = 0.0
    rule: dict[str, Any] | None = None
    scenario: Scenario | None = None

    def describe(self) -> str:
        """A line for the progress log."""
        if self.kind == "kill":
            return f"SIGKILL {self.target}, restart after {self.seconds:.1f} s"
        if self.kind == "redis":
            return f"SIGKILL redis, restart empty after {self.seconds:.1f} s"
        if self.kind == "fault":
            return f"sandbox fault {_rule_text(self.rule or {})}"
        name = self.scenario.__name__ if self.scenario else "?"
        return f"scenario {name}"


def rounds(seed: int, read_timeout: float) -> Iterator[list[Event]]:
    """The rounds of the schedule, forever; the same seed gives the same rounds."""
    rng = random.Random(f"{seed}/faults")
    while True:
        races = list(RACES)
        rng.shuffle(races)
        events = [random_event(rng, read_timeout) for _ in range(RANDOM_BEFORE)]
        events += [Event("scenario", rng.uniform(0.5, 1.5), scenario=s) for s in races]
        events += [random_event(rng, read_timeout) for _ in range(RANDOM_BETWEEN)]
        events.append(Event("scenario", 1.0, scenario=worker_outage))
        events += [random_event(rng, read_timeout) for _ in range(RANDOM_AFTER)]
        yield events


def random_event(rng: random.Random, read_timeout: float) -> Event:
    """A kill, a Redis restart or a sandbox fault rule."""
    pause = rng.uniform(0.5, 3.0)
    kind = rng.choices(["worker", "relay", "redis", "fault"], [2, 1.5, 1, 5])[0]
    if kind == "worker":
        return Event("kill", pause, target=rng.choice(WORKERS), seconds=rng.uniform(0.5, 4))
    if kind == "relay":
        return Event("kill", pause, target=rng.choice(RELAYS), seconds=rng.uniform(0.5, 3))
    if kind == "redis":
        return Event("redis", pause, target="redis", seconds=rng.uniform(0.3, 2))
    return Event("fault", pause, rule=random_rule(rng, read_timeout))


def random_rule(rng: random.Random, read_timeout: float) -> dict[str, Any]:
    """One sandbox fault rule: 5xx, 429 + Retry-After, timeouts, resets or latency."""
    kind = rng.choices(
        ["5xx", "429", "timeout_after_commit", "reset_after_commit", "timeout", "reset", "latency"],
        [3, 2, 2, 2, 1, 1, 2],
    )[0]
    method = rng.choices(["PUT", None, "GET", "DELETE"], [6, 2, 1, 1])[0]
    rule: dict[str, Any] = {"method": method, "times": rng.randint(1, 3)}
    if rng.random() < 0.4:
        rule["probability"] = 0.5
    if kind == "5xx":
        rule["respond"] = _server_error(rng.choice([500, 502, 503]))
    elif kind == "429":
        retry_after = str(rng.randint(1, 2))
        body = {"errors": [{"status": "429", "title": "Too Many Requests"}]}
        rule["respond"] = {"status": 429, "headers": {"Retry-After": retry_after}, "body": body}
    elif kind == "latency":
        rule.update(method="PUT", times=rng.randint(2, 6), latency_ms=rng.randint(200, 1500))
    else:
        rule["action"] = kind
        if kind.startswith("timeout"):
            # Longer than the worker's read timeout, so the worker gives up first.
            rule["seconds"] = read_timeout + 0.5
    return rule


def _server_error(status: int) -> dict[str, Any]:
    if status == 500:
        return {"status": 500}  # the sandbox's JSON:API error body
    body = f"<html><body><h1>{status}</h1></body></html>"
    return {"status": status, "body": body, "content_type": "text/html"}


def _rule_text(rule: dict[str, Any]) -> str:
    effect = rule.get("action") or (
        f"respond {rule['respond']['status']}" if rule.get("respond") else ""
    )
    latency = f" latency {rule['latency_ms']} ms" if rule.get("latency_ms") else ""
    chance = f" p={rule['probability']}" if rule.get("probability") else ""
    return f"{rule.get('method') or 'any'} x{rule.get('times')}{chance}: {effect}{latency}".strip()


class Chaos(threading.Thread):
    """Runs the schedule until the clients are done and at least one round is complete."""

    def __init__(
        self,
        runner: ScenarioRunner,
        seed: int,
        clients_done: threading.Event,
        say: Callable[[str], None],
    ) -> None:
        super().__init__(name="chaos", daemon=True)
        self.runner = runner
        self.seed = seed
        self.clients_done = clients_done
        self.say = say
        self.log: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.rounds_done = 0
        self.started = time.monotonic()

    def run(self) -> None:
        """Play rounds; stop between events once the clients are done after round one."""
        for number, events in enumerate(rounds(self.seed, self.runner.settings.read_timeout), 1):
            for event in events:
                if self._finished():
                    return
                time.sleep(event.pause)
                self._execute(event, f"s{number}")
            self.rounds_done = number

    def _finished(self) -> bool:
        return self.clients_done.is_set() and self.rounds_done >= 1

    def _execute(self, event: Event, tag: str) -> None:
        self._note(event.describe())
        try:
            self._dispatch(event, tag)
        except Exception as error:  # the run goes on; the settle phase restarts what is down
            self.errors.append(f"{event.describe()}: {error!r}")
            self.say(f"chaos event failed: {event.describe()}: {error!r}")

    def _dispatch(self, event: Event, tag: str) -> None:
        stack, sandbox = self.runner.stack, self.runner.sandbox
        if event.kind in ("kill", "redis"):
            name = event.target or ""
            stack.kill(name)
            time.sleep(event.seconds)
            stack.restart(name)
        elif event.kind == "fault":
            sandbox.add_faults(event.rule or {})
        elif event.scenario is not None:
            # Scenarios time their own faults: the random rules left would spoil them.
            sandbox.clear_faults()
            event.scenario(self.runner, tag)

    def _note(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.log.append((elapsed, text))
        self.say(f"[{elapsed:6.1f}s] {text}")
