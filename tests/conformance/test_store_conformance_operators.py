"""Store conformance: operator accounts, sessions and the append-only auth audit. Run per backend
by the conftest."""

from __future__ import annotations

import pytest

from cloud.store import Store
from cloud.store.errors import BootstrapClosed, LastAdmin, OperatorExists, OperatorNotFound
from cloud.store.records import OperatorRecord, OperatorRole, OperatorSessionRecord

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000
MINUTE = 60_000


def account(username: str, role: OperatorRole = OperatorRole.ADMIN, at: int = NOW) -> OperatorRecord:
    return OperatorRecord(
        operator_id=f"opr_{username}",
        username=username,
        password_hash="$argon2id$stand-in",
        role=role,
        created_at=at,
        disabled_at=None,
        failed_logins=0,
        locked_until=0,
    )


def session(
    operator: OperatorRecord, name: str, at: int = NOW, ttl: int = 60 * MINUTE
) -> OperatorSessionRecord:
    return OperatorSessionRecord(
        session_hash=f"hash-{name}", operator_id=operator.operator_id, created_at=at, expires_at=at + ttl
    )


async def test_bootstrap_once_then_accounts_by_unique_name(store: Store) -> None:
    root = await store.create_operator(account("root"), actor="admin-token", address="10.0.0.1", first=True)
    with pytest.raises(BootstrapClosed):
        await store.create_operator(account("again"), actor="admin-token", address=None, first=True)
    await store.create_operator(
        account("vera", OperatorRole.VIEWER, NOW + 1), actor="operator:root", address=None
    )
    with pytest.raises(OperatorExists):
        await store.create_operator(account("vera"), actor="operator:root", address=None)
    assert [o.username for o in await store.list_operators()] == ["root", "vera"]
    assert await store.get_operator("root") == root
    assert await store.get_operator("nobody") is None
    events = await store.page_auth_audit(after=None, limit=10)
    assert [(e.event, e.username, e.actor) for e in events] == [
        ("operator_created", "vera", "operator:root"),
        ("bootstrap", "root", "admin-token"),
    ]
    assert events[1].address == "10.0.0.1"


async def test_failures_lock_the_account_and_count_names_without_one(store: Store) -> None:
    root = await store.create_operator(account("root"), actor="t", address=None, first=True)
    results = []
    for n in range(3):
        results.append(
            await store.login_failed(
                "root",
                root.operator_id,
                "10.0.0.2",
                NOW + n,
                window_start=NOW - MINUTE,
                max_failures=3,
                locked_until=NOW + 30 * MINUTE,
                reason="password",
            )
        )
    assert [(r.recent_failures, r.locked) for r in results] == [(1, False), (2, False), (3, True)]
    locked = await store.get_operator("root")
    assert locked is not None and locked.locked_until == NOW + 30 * MINUTE and locked.failed_logins == 0
    # Failures during the lock neither count nor extend it.
    for n in range(4):
        during = await store.login_failed(
            "root",
            root.operator_id,
            None,
            NOW + MINUTE + n,
            window_start=NOW - MINUTE,
            max_failures=3,
            locked_until=NOW + 90 * MINUTE,
            reason="locked",
        )
        assert not during.locked
    still = await store.get_operator("root")
    assert still is not None and (still.locked_until, still.failed_logins) == (NOW + 30 * MINUTE, 0)
    ghost = await store.login_failed(
        "ghost",
        None,
        None,
        NOW,
        window_start=NOW - MINUTE,
        max_failures=3,
        locked_until=NOW,
        reason="unknown",
    )
    assert (ghost.recent_failures, ghost.locked) == (1, False)
    # A success clears the account's count and lock.
    await store.login_succeeded(root, session(root, "s1", NOW + 31 * MINUTE), None)
    cleared = await store.get_operator("root")
    assert cleared is not None and (cleared.failed_logins, cleared.locked_until) == (0, 0)
    events = [e.event for e in await store.page_auth_audit(after=None, limit=20)]
    assert events.count("login_failed") == 8 and events.count("account_locked") == 1
    assert events[0] == "login_succeeded"


async def test_a_session_lives_until_logout_expiry_or_disable(store: Store) -> None:
    root = await store.create_operator(account("root"), actor="t", address=None, first=True)
    vera = await store.create_operator(account("vera", OperatorRole.OPERATOR), actor="t", address=None)
    await store.login_succeeded(root, session(root, "r"), None)
    await store.login_succeeded(vera, session(vera, "v1"), None)
    await store.login_succeeded(vera, session(vera, "v2", ttl=MINUTE), None)
    assert await store.session_operator("hash-r", NOW + 1) == await store.get_operator("root")
    assert await store.session_operator("hash-v2", NOW + MINUTE) is None  # expired
    assert await store.session_operator("hash-unknown", NOW) is None
    assert await store.end_session("hash-r", NOW + 2, "10.0.0.3") is True
    assert await store.end_session("hash-r", NOW + 3, None) is False
    assert await store.session_operator("hash-r", NOW + 4) is None
    # A role change shows in the live session at once; disabling ends it.
    await store.set_operator_role(
        "vera", OperatorRole.VIEWER, actor="operator:root", address=None, now=NOW + 5
    )
    live = await store.session_operator("hash-v1", NOW + 6)
    assert live is not None and live.role == OperatorRole.VIEWER
    disabled = await store.disable_operator("vera", actor="operator:root", address=None, now=NOW + 7)
    assert disabled.disabled_at == NOW + 7
    assert await store.session_operator("hash-v1", NOW + 8) is None
    with pytest.raises(OperatorNotFound):
        await store.disable_operator("nobody", actor="operator:root", address=None, now=NOW)
    with pytest.raises(OperatorNotFound):
        await store.set_operator_role("nobody", OperatorRole.ADMIN, actor="x", address=None, now=NOW)


async def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(store: Store) -> None:
    await store.create_operator(account("root"), actor="t", address=None, first=True)
    with pytest.raises(LastAdmin):
        await store.set_operator_role("root", OperatorRole.OPERATOR, actor="x", address=None, now=NOW)
    with pytest.raises(LastAdmin):
        await store.disable_operator("root", actor="x", address=None, now=NOW)
    await store.create_operator(account("second"), actor="t", address=None)
    demoted = await store.set_operator_role("root", OperatorRole.OPERATOR, actor="x", address=None, now=NOW)
    assert demoted.role == OperatorRole.OPERATOR
    with pytest.raises(LastAdmin):
        await store.disable_operator("second", actor="x", address=None, now=NOW)


async def test_the_auth_audit_pages_newest_first_and_is_append_only(store: Store) -> None:
    await store.create_operator(account("root"), actor="t", address=None, first=True)
    for n in range(5):
        await store.login_failed(
            f"user{n}",
            None,
            None,
            NOW + n,
            window_start=NOW,
            max_failures=5,
            locked_until=NOW,
            reason="unknown",
        )
    first = await store.page_auth_audit(after=None, limit=2)
    assert [e.username for e in first] == ["user4", "user3", "user2"]  # limit + 1: a next page
    rest = await store.page_auth_audit(after=first[1].audit_id, limit=10)
    assert [e.username for e in rest] == ["user2", "user1", "user0", "root"]

    for statement in ("UPDATE auth_audit SET event = 'x'", "DELETE FROM auth_audit"):
        with pytest.raises(Exception, match="append-only"):
            await store._write_tx(lambda tx, s=statement: tx.execute(s))  # type: ignore[attr-defined]
    assert len(await store.page_auth_audit(after=None, limit=10)) == 6
