"""A stateful DataCite REST API simulator with fault injection, for tests and `doiflow dev`.

API (DataCite's shapes): GET/POST `/dois`, GET/PUT/PATCH/DELETE `/dois/{doi}`,
GET `/heartbeat`. Control, same port, no auth: `/__sandbox/faults` (GET, POST, DELETE),
`/__sandbox/requests` (GET, DELETE), POST `/__sandbox/reset`, `/__sandbox/config`
(GET, POST `{"domains", "rate_limit"}`), GET `/__sandbox/dois`, and GET/PUT/DELETE
`/__sandbox/dois/{doi}` to inspect, seed or remove one DOI without any checks.

Ground truth is DataCite's Rails app lupo (github.com/datacite/lupo) at commit
05afac4639d2048735056813edcb94914fe3cbba (2026-08-18, Ruby 4.0.1, bolognese 2.7):
app/controllers/datacite_dois_controller.rb, app/controllers/concerns/paginatable.rb,
app/models/doi.rb and spec/requests/datacite_dois/. Its XML schema checks use DataCite
Metadata Schema 4.7 (github.com/datacite/schema, source/meta/kernel-4, commit
471512cb0172e2e46590902728eceb35a08225b2). Diff those paths from these commits to see
what changed on DataCite's side since.
"""

from ops.sandbox.app import SandboxApp, create_sandbox_app
from ops.sandbox.server import SandboxServer

__all__ = ["SandboxApp", "SandboxServer", "create_sandbox_app"]
