"""Process commands owned by `workers`, registered in the `doiflow.commands` entry points."""

from __future__ import annotations

import signal
import sys
import threading

import click

from app.cli import ConfigProblem, runtime_from_environment
from app.config import ConfigError


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@click.command("relay")
def relay() -> None:
    """Move due outbox intents onto Dramatiq queues until stopped."""
    from workers.broker import install, redis_broker
    from workers.relay import Relay

    runtime = runtime_from_environment("relay", redis=True, wait=True)
    try:
        broker = install(redis_broker(runtime.settings, "relay"))
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    stop = _stop_on_signals()
    click.echo("relay started; waiting for intents", err=True)
    Relay(runtime, broker).run_forever(stop)


@click.command(
    "worker",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("dramatiq_args", nargs=-1, type=click.UNPROCESSED)
def worker(dramatiq_args: tuple[str, ...]) -> None:
    """`dramatiq workers.worker ARGS…` with doiflow's log setup (e.g. `-Q doi --threads 4`).

    The supervisor's own lines (start, stop, a worker process that died) then go
    through the same formatter as the workers', instead of dramatiq's text format.
    """
    from dramatiq import cli as dramatiq_cli

    # One clear line for a bad setting, and the wait for the database and Redis, before forking.
    runtime_from_environment("worker", redis=True, wait=True).close()
    args = dramatiq_cli.make_argument_parser().parse_args(["workers.worker", *dramatiq_args])
    sys.exit(dramatiq_cli.main(args))
