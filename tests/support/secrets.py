"""Production-grade secrets for tests that run with ``ENV=production``: long, random, all different.

Fixed values (made once with ``secrets.token_urlsafe(36)``), so a failing test prints the same
configuration every time; they protect nothing.
"""

from __future__ import annotations

from typing import Final

ADMIN_TOKEN: Final = "QQxPWbA3BU-8VRVeqrHi5Kf4XtCJKEqUp1HK-9WRlcLMstwp"
JWT_SECRET: Final = "V9z-8lnU7y5oD48G3Z2swlz07AzvjR-NgBcpOMinJ3NejRtx"
REFRESH_DERIVATION_KEY: Final = "LNtTJ7_O5j6zI0hbxYSNgYjQ95QBdhWyRVKibfDx6ki7nqsh"

PRODUCTION_ENV: Final = {
    "ENV": "production",
    "ADMIN_TOKEN": ADMIN_TOKEN,
    "JWT_SECRET": JWT_SECRET,
    "REFRESH_DERIVATION_KEY": REFRESH_DERIVATION_KEY,
}
"""``ENV=production`` with all three secrets set: what a production start needs."""
