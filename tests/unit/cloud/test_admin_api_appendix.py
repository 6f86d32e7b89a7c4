"""Appendix A of docs/specs/sync-protocol.md lists exactly the admin routes the application serves.

The routes come from :func:`cloud.app.create_app`: every method and path under ``/v1/admin`` must
have its row, with the handler's success status, and every row must name a route that exists. A
row's body names exactly the fields of the body type its handler decodes.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from litestar.routes import HTTPRoute

from cloud.app import create_app
from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.schemas import (
    CloseReview,
    CreateEnrollmentCode,
    CreateNotice,
    CreateOffer,
    CreateUser,
    RevokeDevice,
    SetProfile,
    WithdrawOffer,
)
from cloud.domain.credit.schemas import SetCreditFeatures
from cloud.domain.operators.schemas import Bootstrap, CreateOperator, CreateServiceKey, Login, SetRole
from cloud.domain.releases.schemas import PublishRelease, SetRollout
from cloud.settings import load_settings

SPEC = Path(__file__).resolve().parents[3] / "docs" / "specs" / "sync-protocol.md"
_ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)(?:\?[^`]*)?` \| (.*?) \| (.*) \|$", re.M)

BODIES: dict[tuple[str, str], type[msgspec.Struct]] = {
    ("POST", "/v1/admin/users"): CreateUser,
    ("POST", "/v1/admin/users/{user_id}/enrollment-codes"): CreateEnrollmentCode,
    ("POST", "/v1/admin/users/{user_id}/notices"): CreateNotice,
    ("POST", "/v1/admin/users/{user_id}/profile"): SetProfile,
    ("POST", "/v1/admin/users/{user_id}/offers"): CreateOffer,
    ("POST", "/v1/admin/offers/{offer_id}/withdraw"): WithdrawOffer,
    ("POST", "/v1/admin/devices/{device_id}/revoke"): RevokeDevice,
    ("POST", "/v1/admin/reviews/{review_id}/close"): CloseReview,
    ("PUT", "/v1/admin/users/{user_id}/credit-features"): SetCreditFeatures,
    ("POST", "/v1/admin/operators/bootstrap"): Bootstrap,
    ("POST", "/v1/admin/login"): Login,
    ("POST", "/v1/admin/operators"): CreateOperator,
    ("PUT", "/v1/admin/operators/{username}/role"): SetRole,
    ("POST", "/v1/admin/service-keys"): CreateServiceKey,
    ("POST", "/v1/admin/model-releases"): PublishRelease,
    ("POST", "/v1/admin/model-releases/{release}/rollout"): SetRollout,
}
"""The body type each admin handler decodes (strictly, through :class:`cloud.deps.StrictBody`)."""


def served_routes(tmp_path: Path) -> dict[tuple[str, str], int]:
    """(method, path) -> success status of every admin route; paths as ``/users/{user_id}``."""
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}))
    served: dict[tuple[str, str], int] = {}
    for route in app.routes:
        if not route.path.startswith(ADMIN_PREFIX):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        assert isinstance(route, HTTPRoute), route
        for handler in route.route_handlers:
            for method in set(handler.http_methods) - {"OPTIONS", "HEAD"}:
                served[method, path] = handler.status_code
    return served


def appendix_rows() -> dict[tuple[str, str], tuple[str, str]]:
    """(method, path) -> (body, success) of every row of Appendix A."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("\n## Appendix A.")
    section = text[start : text.index("\n## ", start + 1)]
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    for method, path, body, success in _ROW.findall(section):
        assert (method, path) not in rows, f"two rows for {method} {path}"
        rows[method, path] = (body, success)
    return rows


def test_every_served_admin_route_has_a_row_and_every_row_is_served(tmp_path: Path) -> None:
    served = set(served_routes(tmp_path))
    documented = set(appendix_rows())
    assert len(served) >= 20, "the app's routes were not found"
    assert not served - documented, f"admin routes missing from Appendix A: {sorted(served - documented)}"
    assert not documented - served, f"Appendix A rows naming no route: {sorted(documented - served)}"


def test_each_row_starts_its_answer_with_the_handlers_status(tmp_path: Path) -> None:
    served = served_routes(tmp_path)
    wrong = {
        key: (success[:40], served[key])
        for key, (_, success) in appendix_rows().items()
        if key in served and not success.startswith(f"`{served[key]}")
    }
    assert not wrong, f"rows whose success status is not the handler's: {wrong}"


@pytest.mark.parametrize("key", sorted(appendix_rows()), ids=lambda key: " ".join(key))
def test_each_row_names_its_body_fields(key: tuple[str, str]) -> None:
    body = appendix_rows()[key][0]
    if key not in BODIES:
        assert body == "—", f"{key}: the handler reads no body"
        return
    named = set(re.findall(r'"(\w+)"(?=\s*[:,}])', body))  # keys, not quoted values
    fields = {f.name for f in msgspec.structs.fields(BODIES[key])}
    assert named == fields, f"{key}: the row names {sorted(named)}, the body has {sorted(fields)}"
