"""A stateful DataCite REST API simulator with fault injection, for tests and `doiflow dev`.

API (DataCite's shapes): GET/POST `/dois`, GET/PUT/PATCH/DELETE `/dois/{doi}`,
GET `/heartbeat`. Control, same port, no auth: `/__sandbox/faults` (GET, POST, DELETE),
`/__sandbox/requests` (GET, DELETE), POST `/__sandbox/reset`, `/__sandbox/config`
(GET, POST `{"domains", "rate_limit"}`), GET `/__sandbox/dois`, and GET/PUT/DELETE
`/__sandbox/dois/{doi}` to inspect, seed or remove one DOI without any checks.
"""

from ops.sandbox.app import SandboxApp, create_sandbox_app
from ops.sandbox.server import SandboxServer

__all__ = ["SandboxApp", "SandboxServer", "create_sandbox_app"]
