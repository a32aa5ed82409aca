"""A chaos test of doiflow's own: the Procfile's processes against the DataCite sandbox.

`python -m ops.chaos --operations 150 --seed 7 --clients 4 [--keep-logs DIR]` starts a
private Postgres database and Redis server, the sandbox, gunicorn, two relays and two
doi-workers; sends seeded random lifecycle operations from several clients while it
SIGKILLs workers and relays, restarts Redis empty and injects DataCite faults; then
checks every DOI in doiflow and in the sandbox against the lifecycle rules, prints
the findings and the duplicate DataCite writes, and exits 1 when there are findings.
"""
