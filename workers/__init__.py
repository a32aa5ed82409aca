"""Background processes: the broker, the relay, the actors (and, later, the clock).

Worker processes start from `workers.worker`, which installs the Redis broker.
"""
