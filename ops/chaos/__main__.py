"""`python -m ops.chaos`: run the chaos test; exit 0 clean, 1 with findings, 2 if it broke.

    python -m ops.chaos --operations 150 --seed 7 --clients 4 [--keep-logs DIR]
    python -m ops.chaos --operations 2000 --seed 11 --clients 6      # the long run

Progress goes to stderr; the findings report, the duplicate DataCite writes and a
summary line go to stdout. Postgres comes from CHAOS_POSTGRES_URL (an admin URL;
default postgresql://postgres@127.0.0.1:5432/postgres); Redis, the sandbox and every
doiflow process are started by the run itself, on 127.0.0.1, and stopped at the end.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback
from pathlib import Path

from ops.chaos.config import ChaosConfig, admin_url_from_environment
from ops.chaos.report import duplicates_text, findings_text
from ops.chaos.run import Result, run

EXIT_CLEAN, EXIT_FINDINGS, EXIT_BROKEN = 0, 1, 2


def parse(argv: list[str] | None = None) -> ChaosConfig:
    """The command line as a ChaosConfig."""
    parser = argparse.ArgumentParser(
        prog="python -m ops.chaos", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--operations", type=int, default=150, help="random operations in all")
    parser.add_argument("--seed", type=int, default=7, help="drives operations and faults")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds to spread the operations over"
    )
    parser.add_argument("--keep-logs", type=Path, default=None, help="keep logs and evidence here")
    args = parser.parse_args(argv)
    if args.operations < 1 or args.clients < 1:
        parser.error("--operations and --clients must be at least 1")
    return ChaosConfig(
        operations=args.operations,
        seed=args.seed,
        clients=args.clients,
        duration=args.duration,
        keep_logs=args.keep_logs.resolve() if args.keep_logs else None,
        admin_url=admin_url_from_environment(),
    )


def say(text: str) -> None:
    """Progress on stderr, timestamped."""
    print(f"{time.strftime('%H:%M:%S')} chaos: {text}", file=sys.stderr, flush=True)


def summary(config: ChaosConfig, result: Result) -> str:
    """The last line of a run."""
    verdict = "FAIL" if result.findings else "PASS"
    return (
        f"chaos {verdict}: seed {config.seed}, {result.operations} operations "
        f"(+{result.scripted} scripted) from {config.clients} clients, "
        f"{len(result.findings)} finding(s), {len(result.duplicates)} duplicate write(s), "
        f"{result.wire_count} DataCite requests, {result.seconds:.0f} s"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up exactly as Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    """Run and report."""
    config = parse(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run(config, say)
    except KeyboardInterrupt:
        say("interrupted; everything started was stopped and removed")
        return EXIT_BROKEN
    except Exception:
        # Exit 1 means findings: a harness that broke must never look like one.
        traceback.print_exc()
        say("the run broke (above); everything started was stopped and removed")
        return EXIT_BROKEN
    print(findings_text(result.findings, result.entries))
    print()
    print(duplicates_text(result.duplicates, result.wire_count))
    if result.log_dir is not None:
        print(f"\nlogs and evidence kept in {result.log_dir}")
    print(summary(config, result), flush=True)
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
