"""One exception tree for Edge; every class carries the HTTP status it renders as.

    EdgeError                      500  a bug (never raised on purpose for input or dependencies)
    +-- RequestError               400  the request as a whole is unusable
    |   +-- MalformedJSON          400  body is not JSON
    |   +-- Unauthorized           401  missing or wrong admin token
    |   +-- NotFound               404  unknown route or resource
    |   +-- PayloadTooLarge        413  body over the configured limit
    |   +-- UnsupportedMediaType   415  content type is not application/json
    |   +-- ValidationFailed       422  a field has the wrong type or an out-of-range value
    +-- DependencyError            503  a dependency failed (Redis, index); callers degrade or retry
    |   +-- StoreUnavailable       503  the profile/session store could not answer in time
    +-- ConfigError                      a settings value, content or artifact file is invalid
        +-- ArtifactError                artifacts missing, corrupt or of another format version

Third-party exceptions are translated once, where the third party is called
(`raise StoreUnavailable(...) from exc`); the app renders any `RequestError` or
`DependencyError` as `{"error": {"code", "message", "field"}}` (edge.core.shapes.Error).
"""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every error Edge raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RequestError(EdgeError):
    status = 400
    code = "bad_request"


class MalformedJSON(RequestError):
    status = 400
    code = "malformed_json"


class Unauthorized(RequestError):
    status = 401
    code = "unauthorized"


class Forbidden(RequestError):
    status = 403
    code = "forbidden"


class Conflict(RequestError):
    status = 409
    code = "conflict"


class NotFound(RequestError):
    status = 404
    code = "not_found"


class PayloadTooLarge(RequestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(RequestError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(RequestError):
    status = 422
    code = "validation_failed"


class DependencyError(EdgeError):
    status = 503
    code = "dependency_unavailable"


class StoreUnavailable(DependencyError):
    code = "store_unavailable"


class ConfigError(EdgeError):
    """A setting, content file or experiments file is invalid; raised at load, never per request."""

    code = "config_error"


class ArtifactError(ConfigError):
    code = "artifact_error"
