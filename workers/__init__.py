"""Background processes: the broker, the relay, the actors and the clock.

`dramatiq workers -Q doi` imports this package, which sets up the broker and
declares every actor.
"""

from workers import actors, broker

__all__ = ["actors", "broker"]
