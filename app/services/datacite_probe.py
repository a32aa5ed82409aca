"""One authenticated GET at DataCite: are the configured URL and credentials accepted?

Used by `doiflow doi check` only, outside any transaction. It reads a DOI that never
exists (`{prefix}/{instance}.doiflow-probe`): DataCite answers 404 to an account it
accepts and 401 to bad credentials before it looks for the DOI.
"""

from __future__ import annotations

from app.clients.datacite import DataCiteClient
from app.clients.errors import PermanentError, RemoteError, ThrottledError
from app.config import Settings

NOT_CONFIGURED = "not configured"


def probe_doi(settings: Settings) -> str:
    """The DOI the probe reads."""
    return f"{settings.datacite_prefix}/{settings.doi_instance}.doiflow-probe"


def probe(settings: Settings, *, timeout: float = 10.0) -> str:
    """ "ok", "not configured", or what went wrong (never the password)."""
    if not settings.datacite_configured:
        return NOT_CONFIGURED
    client = DataCiteClient(
        settings.datacite_api_url or "",
        settings.datacite_user or "",
        settings.datacite_password or "",
        read_timeout=min(timeout, settings.datacite_read_timeout),
    )
    try:
        client.get(probe_doi(settings))
    except ThrottledError:
        return "ok"  # it knew us well enough to throttle us
    except PermanentError as error:
        return f"refused ({error})"
    except RemoteError as error:
        return f"unreachable ({error})"
    finally:
        client.close()
    return "ok"
