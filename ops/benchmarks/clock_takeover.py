"""How long a standby `doiflow clock` takes to lead after the leader is SIGKILLed.

    python -m ops.benchmarks.clock_takeover [--repeat 5] [--takeover-seconds 10]

Creates its own scratch database (dropped at the end), starts two `doiflow clock`
processes, then `--repeat` times: waits past the standby's first try, SIGKILLs the
leader, measures until the standby logs that it leads, and starts a new standby.
Prints each takeover, the median and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from ops.benchmarks.harness import ADMIN_URL, BIN, Bench, Process, progress, service_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--takeover-seconds", type=float, default=10.0)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args()
    with Bench("takeover", args.admin_url) as bench:
        env = service_env(
            {
                "DATABASE_URL": bench.database("takeover"),
                "CLOCK_TAKEOVER_SECONDS": str(args.takeover_seconds),
                "CLOCK_SCHEDULES": "refresh_snapshot=1s,prune_outbox=off",
            }
        )
        clocks = [_clock(bench, env, n) for n in range(2)]
        taken = []
        for run in range(args.repeat):
            leader = _wait_for_leader(clocks)
            # Past the standby's first try (made as it starts), at a varying poll phase.
            time.sleep(1.5 + 0.2 * run)
            standby = next(c for c in clocks if c is not leader)
            before = standby.log_text().count("clock leading")
            killed = time.monotonic()
            leader.kill()
            while standby.log_text().count("clock leading") == before:
                time.sleep(0.005)
            taken.append(time.monotonic() - killed)
            print(f"run {run + 1}: standby led {taken[-1]:.2f} s after the SIGKILL")
            bench.processes.remove(leader)
            clocks = [standby, _clock(bench, env, len(taken) + 1)]
        median = statistics.median(taken)
        print(f"median {median:.2f} s (CLOCK_TAKEOVER_SECONDS={args.takeover_seconds:g})")
        print(json.dumps({"takeover_seconds": [round(t, 3) for t in taken], "median": median}))
    return 0


def _clock(bench: Bench, env: dict[str, str], number: int) -> Process:
    process = bench.start(f"clock-{number}", [str(BIN / "doiflow"), "clock"], env)
    process.wait_for_log("clock standing by", 30)
    return process


def _wait_for_leader(clocks: list[Process]) -> Process:
    progress("waiting for a leader")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # The newest clock is a standby; the older one leads once it has said so.
        for clock in clocks:
            if clock.log_text().count("clock leading") > 0 and _leads(clock, clocks):
                return clock
        time.sleep(0.05)
    raise TimeoutError("no clock leads")


def _leads(clock: Process, clocks: list[Process]) -> bool:
    return all(c is clock or "clock leading" not in c.log_text() for c in clocks)


if __name__ == "__main__":
    sys.exit(main())
