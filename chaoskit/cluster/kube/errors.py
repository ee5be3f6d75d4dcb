"""The API server's error answers as typed errors: what the caller can act on, with the Status kept.

Bad input is told apart from a cluster in trouble here, once: a manifest the API server rejects (400, 422,
and the 500 server-side apply answers for a field the schema does not declare) is a ``ManifestError``
(exit 2); a refused credential or permission, a conflict, an overloaded or failing server are
``ApiStatusError``s (exit 3). Every error keeps the Status object the server sent (``api_status.payload``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from chaoskit.cluster.protocol import ClusterError, ManifestError, NotFoundError

SCHEMA_SIGNS: Final = ("field not declared in schema", "unknown field", "failed to create typed patch object")
"""Server-side apply answers 500 (not 400) when a manifest has a field its schema lacks; these say so."""


@dataclass(frozen=True, slots=True)
class ApiStatus:
    """A failed request's answer: the HTTP code, and the server's Status object when it sent one."""

    code: int
    reason: str = ""
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    """The Status object as sent (``{}`` when the body was not JSON)."""

    @classmethod
    def parse(cls, code: int, body: bytes) -> ApiStatus:
        try:
            parsed: Any = json.loads(body or b"{}")
        except ValueError:
            parsed = {}
        payload = parsed if isinstance(parsed, dict) else {}
        message = str(payload.get("message", "")) or body[:200].decode("utf-8", "replace")
        return cls(code, str(payload.get("reason", "")), message, payload)


class ApiStatusError(ClusterError):
    """The API server answered with an error status; ``status`` and ``reason`` are its own."""

    def __init__(self, message: str, *, api_status: ApiStatus, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.api_status = api_status
        self.status = api_status.code
        self.reason = api_status.reason


class ApiForbiddenError(ApiStatusError):
    """401/403: the credentials are refused, or the role lacks a verb (or an admission policy said no)."""


class ApiConflictError(ApiStatusError):
    """409: the object exists already, or changed under us."""


class ApiUnavailableError(ApiStatusError):
    """429 and 5xx (other than a schema rejection): the server is overloaded or failing."""


class ApiManifestError(ManifestError):
    """The API server rejected a manifest (bad input: exit 2)."""

    def __init__(self, message: str, *, api_status: ApiStatus, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.api_status = api_status
        self.status = api_status.code
        self.reason = api_status.reason


class ApiNotFoundError(NotFoundError):
    """404: no such object (or namespace, or API path)."""

    def __init__(self, message: str, *, api_status: ApiStatus, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.api_status = api_status
        self.status = api_status.code
        self.reason = api_status.reason


class ClusterUnreachable(ClusterError):
    """No answer from the API server (network, TLS, DNS)."""


_BY_CODE: Final[dict[int, tuple[type[ApiStatusError], str]]] = {
    401: (ApiForbiddenError, "the credentials were refused: refresh the kubeconfig's token or certificate "
          "(e.g. log in to the cluster again)"),
    403: (ApiForbiddenError, "grant the verbs listed in docs/rbac.md (manifests/rbac.yaml)"),
    409: (ApiConflictError, ""),
}
_UNAVAILABLE_HINT: Final = ("the API server is overloaded or failing: check the control plane, then run "
                            "`chaoskit cleanup --backend kube` if the run stopped")


def error_from_status(code: int, body: bytes, *, what: str) -> ClusterError:
    """Map an API error response to the typed error the caller can act on."""
    status = ApiStatus.parse(code, body)
    text = f"{what}: {code} {status.reason}: {status.message}"
    if code == 404:
        return ApiNotFoundError(text, api_status=status)
    if code in (400, 422) or (code == 500 and any(s in status.message for s in SCHEMA_SIGNS)):
        return ApiManifestError(text, api_status=status, hint=_manifest_hint(status))
    default = (ApiUnavailableError, _UNAVAILABLE_HINT) if code == 429 or code >= 500 else (ApiStatusError, "")
    kind, hint = _BY_CODE.get(code, default)
    return kind(text, api_status=status, hint=hint)


def _manifest_hint(status: ApiStatus) -> str:
    if any(s in status.message for s in SCHEMA_SIGNS):
        return "the manifest has a field its kind does not have (a typo, or the wrong apiVersion): remove or fix it"
    return "fix the manifest; the API server rejected it"
