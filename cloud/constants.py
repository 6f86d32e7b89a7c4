"""Every Redis key, queue name, header and route prefix the cloud uses, in one place."""

from typing import Final

REQUEST_ID_HEADER: Final = "X-Request-ID"
RETRY_AFTER_HEADER: Final = "Retry-After"

API_PREFIX: Final = "/v1"
SYNC_PATH: Final = "/v1/sync"
ENROLL_PATH: Final = "/v1/devices/enroll"
TOKEN_PATH: Final = "/v1/devices/token"
ADMIN_PREFIX: Final = "/v1/admin"
MODELS_PATH: Final = "/v1/models"
"""Where devices fetch model releases' files (spec §5.9)."""
HEALTH_LIVE_PATH: Final = "/health/live"
HEALTH_READY_PATH: Final = "/health/ready"
METRICS_PATH: Final = "/metrics"
METRICS_MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus-client's variable: the folder every process of a host writes its metric samples to."""
OPENAPI_PATH: Final = "/schema"
OPENAPI_JSON_PATH: Final = "/schema/openapi.json"
API_DOCS_UI_PATH: Final = "/schema/swagger"
"""Swagger UI, served only with ``API_DOCS`` on."""
API_DOCS_ASSETS_PATH: Final = "/schema/assets"
"""Where the app serves the Swagger UI page's script, style sheet and icon."""

QUEUE_NAME: Final = "ec:queue"
"""arq queue every worker listens on."""

JWT_ISSUER: Final = "empathic-credit"
JWT_AUDIENCE_DEVICE: Final = "ec-device"
JWT_ALGORITHM: Final = "HS256"

DEFAULT_ADMIN_TOKEN: Final = "dev-admin-token"
DEFAULT_JWT_SECRET: Final = "dev-jwt-secret-change-me-0123456789abcdef"

DASHBOARD_PATH: Final = "/dashboard"
DASHBOARD_API_PATH: Final = f"{ADMIN_PREFIX}/dashboard"


def dashboard_channel(queue_name: str) -> str:
    """The Redis pub/sub channel on which API processes and workers announce a change the
    dashboard shows; one per queue, so deployments (and test servers) sharing a Redis stay apart."""
    return f"{queue_name}:dashboard"


SESSION_COOKIE: Final = "ec_session"
"""The operator's session cookie (HttpOnly), set at login for the dashboard."""
CSRF_COOKIE: Final = "ec_csrf"
"""The session's CSRF token, readable by the dashboard's script, sent back in :data:`CSRF_HEADER`."""
CSRF_HEADER: Final = "X-CSRF-Token"
