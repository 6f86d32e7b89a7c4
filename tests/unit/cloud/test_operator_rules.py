"""The pure rules of operator accounts, as tables."""

from __future__ import annotations

import pytest

from cloud.domain.operators.rules import allows, csrf_token, login_delay_s, required_role
from cloud.store.records import OperatorRole

VW, OP, AD = OperatorRole.VIEWER, OperatorRole.OPERATOR, OperatorRole.ADMIN


@pytest.mark.parametrize(
    ("role", "required", "allowed"),
    [
        (VW, VW, True),
        (VW, OP, False),
        (VW, AD, False),
        (OP, VW, True),
        (OP, OP, True),
        (OP, AD, False),
        (AD, VW, True),
        (AD, OP, True),
        (AD, AD, True),
    ],
)
def test_each_role_may_do_what_the_roles_below_it_may(
    role: OperatorRole, required: OperatorRole, allowed: bool
) -> None:
    assert allows(role, required) is allowed


@pytest.mark.parametrize(
    ("method", "declared", "needed"),
    [
        ("GET", None, VW),
        ("HEAD", None, VW),
        ("POST", None, OP),
        ("PUT", None, OP),
        ("DELETE", None, OP),
        ("GET", AD, AD),  # the accounts and the auth audit are read by admins only
        ("POST", VW, VW),  # logout
    ],
)
def test_a_request_needs_its_routes_role_else_by_method(
    method: str, declared: OperatorRole | None, needed: OperatorRole
) -> None:
    assert required_role(method, declared) == needed


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0.0), (1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 4.0), (1000, 4.0)],
)
def test_the_login_delay_doubles_with_recent_failures_up_to_4_s(failures: int, delay: float) -> None:
    assert login_delay_s(failures) == delay


def test_a_csrf_token_is_bound_to_its_session() -> None:
    first, second = csrf_token("eco_a"), csrf_token("eco_b")
    assert first == csrf_token("eco_a") and first != second
    assert len(first) == 32 and "eco_a" not in first
