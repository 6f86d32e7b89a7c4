"""``ecs``'s operator commands: users, devices, offers, evaluations, enrollment codes, the outbox and
the doctor, over the admin API (HTTP only, like everything in ``ecs``).

Each command is one or a few admin API calls; the answers are shown as tables (or, with ``--json``,
as the API's JSON). A refusal of the cloud (its problem's code and detail) or no answer is
:class:`OperatorError`, which the command line turns into exit code 1 and one line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import getpass
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import httpx
from rich.table import Table

DEFAULT_LIMIT: Final = 20
PAGE: Final = 500
TIMEOUT_S: Final = 10.0


class OperatorError(Exception):
    """The cloud refused an operator's call (the message names its code) or did not answer."""


class AdminClient:
    """The admin API at ``server`` with the bearer ``token``."""

    def __init__(self, server: str, token: str, transport: httpx.BaseTransport | None = None) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            headers={"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
            timeout=TIMEOUT_S,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        """The JSON answer of one call; :class:`OperatorError` on a refusal or no answer."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            reply = self._http.request(method, path, params=query, json=body)
        except httpx.HTTPError as exc:
            raise OperatorError(f"{self.server} did not answer {method} {path}: {exc}") from None
        if reply.status_code >= 400:
            raise OperatorError(_refusal(reply, f"{method} {path}"))
        return reply.json()

    def response(self, method: str, path: str) -> httpx.Response:
        """The raw answer (the doctor reads headers and refusals itself)."""
        try:
            return self._http.request(method, path)
        except httpx.HTTPError as exc:
            raise OperatorError(f"{self.server} did not answer {method} {path}: {exc}") from None

    def items(self, path: str, params: dict[str, Any], limit: int | None) -> Iterator[dict[str, Any]]:
        """A list's items, newest first, following ``next_cursor``: ``limit`` of them, or all."""
        cursor: str | None = None
        left = limit
        while True:
            size = PAGE if left is None else min(PAGE, left)
            page = self.call("GET", path, params={**params, "limit": size, "cursor": cursor})
            yield from page["items"]
            if left is not None:
                left -= len(page["items"])
            cursor = page["next_cursor"]
            if cursor is None or (left is not None and left <= 0):
                return


def _refusal(reply: httpx.Response, what: str) -> str:
    try:
        problem = reply.json()
        detail = problem.get("detail") or problem.get("title")
        return f"{what}: {reply.status_code} {problem.get('code')}: {detail}"
    except ValueError:
        return f"{what}: {reply.status_code} {reply.text[:200]}"


def when(ms: int | None) -> str:
    """An epoch-ms time as UTC, to the second."""
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def money(cents: int) -> str:
    return f"{cents / 100:,.2f}"


def table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    out = Table(title=title)
    for column in columns:
        out.add_column(column)
    for row in rows:
        out.add_row(*row)
    return out


# --- the commands: (client, args) -> (JSON for --json, what people see) ------------------------

Result = tuple[Any, list[Table]]
Command = Callable[[AdminClient, argparse.Namespace], Result]


def _limit(args: argparse.Namespace) -> int | None:
    return None if args.all else args.limit


def users_list(client: AdminClient, args: argparse.Namespace) -> Result:
    users = list(client.items("/v1/admin/users", {"external_ref": args.ref}, _limit(args)))
    rows = [[u["user_id"], u["external_ref"] or "—", str(u["version"]), when(u["created_at"])] for u in users]
    return users, [table(f"{len(users)} users, newest first", ["user", "ref", "version", "created"], rows)]


def users_show(client: AdminClient, args: argparse.Namespace) -> Result:
    view = client.call("GET", f"/v1/admin/users/{args.user_id}/view")
    events = list(client.items(f"/v1/admin/users/{args.user_id}/timeline", {}, args.events))
    profile = view["profile"]
    consent = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in sorted(view["consent"].items()))
    terms = "—"
    if profile is not None:
        limit, used = money(profile["limit_cents"]), money(profile["used_cents"])
        terms = f"{profile['currency']} limit {limit}, used {used}, {profile['rate_bps']} bps"
    facts = [
        ["version", str(view["version"])],
        ["consent", consent or "—"],
        ["profile", terms],
        ["devices", str(len(view["devices"]))],
        ["offers", ", ".join(f"{o['offer_id']} {o['status']}" for o in view["offers"]) or "—"],
        ["aggregates", str(len(view["aggregates"]))],
    ]
    timeline = [[when(e["at"]), e["kind"], e["ref"], e["summary"]] for e in events]
    return {"view": view, "timeline": events}, [
        table(f"user {args.user_id}", ["what", "value"], facts),
        table(f"latest {len(events)} events", ["at (UTC)", "kind", "about", "summary"], timeline),
    ]


def _device_rows(devices: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [d["device_id"], d["user_id"], d["platform"], str(d["last_seq"]), when(d["last_seen_at"]),
         "revoked" if d["revoked"] else "active"]
        for d in devices
    ]  # fmt: skip


DEVICE_COLUMNS: Final = ["device", "user", "platform", "last seq", "last seen (UTC)", "state"]


def devices_list(client: AdminClient, args: argparse.Namespace) -> Result:
    revoked = None if args.state == "all" else args.state == "revoked"
    params = {
        "user_id": args.user,
        "platform": args.platform,
        "revoked": None if revoked is None else str(revoked).lower(),
    }
    devices = list(client.items("/v1/admin/devices", params, _limit(args)))
    return devices, [table(f"{len(devices)} devices, newest first", DEVICE_COLUMNS, _device_rows(devices))]


def users_export(client: AdminClient, args: argparse.Namespace) -> Result:
    document = client.call("GET", f"/v1/admin/users/{args.user_id}/export")
    counts = [[part, str(len(document[part]))] for part in ("devices", "offers", "audit", "evaluations",
              "notices", "aggregates", "pushes")]  # fmt: skip
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
        counts.append(["written to", args.output])
    return document, [table(f"export of {args.user_id}", ["part", "items"], counts)]


def users_erase(client: AdminClient, args: argparse.Namespace) -> Result:
    if not args.yes:
        raise OperatorError(f"erasing {args.user_id} cannot be undone: run again with --yes")
    done = client.call("POST", f"/v1/admin/users/{args.user_id}/erase")
    rows = [
        [
            "erased at (UTC)",
            when(done["erased_at"]) + (" (before: nothing done now)" if done["already_erased"] else ""),
        ],
        ["devices to wipe", str(done["devices_to_wipe"])],
        ["offers withdrawn", ", ".join(done["offers_withdrawn"]) or "none"],
        ["evaluations cancelled", str(done["evaluations_cancelled"])],
        ["pushes cancelled", str(done["pushes_cancelled"])],
    ]
    return done, [table(f"user {args.user_id} erased", ["", ""], rows)]


def devices_revoke(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {"reason": "stolen" if args.stolen else "other"}
    device = client.call("POST", f"/v1/admin/devices/{args.device_id}/revoke", body=body)
    title = f"device {args.device_id} revoked" + (", its lineage closed" if args.stolen else "")
    return device, [table(title, DEVICE_COLUMNS, _device_rows([device]))]


def devices_show(client: AdminClient, args: argparse.Namespace) -> Result:
    device = client.call("GET", f"/v1/admin/devices/{args.device_id}")
    return device, [table(f"device {args.device_id}", DEVICE_COLUMNS, _device_rows([device]))]


def _offer_rows(offers: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [o["offer"]["offer_id"], o["user_id"], o["offer"]["status"], money(o["offer"]["current_limit_cents"]),
         money(o["offer"]["new_limit_cents"]), str(o["offer"]["rate_bps"]), when(o["offer"]["expires_at"])]
        for o in offers
    ]  # fmt: skip


OFFER_COLUMNS: Final = ["offer", "user", "status", "limit", "new limit", "rate bps", "expires (UTC)"]


def offers_list(client: AdminClient, args: argparse.Namespace) -> Result:
    offers = list(
        client.items("/v1/admin/offers", {"status": args.status, "user_id": args.user}, _limit(args))
    )
    return offers, [table(f"{len(offers)} offers, newest first", OFFER_COLUMNS, _offer_rows(offers))]


def offers_show(client: AdminClient, args: argparse.Namespace) -> Result:
    offer = client.call("GET", f"/v1/admin/offers/{args.offer_id}")
    audit = client.call("GET", f"/v1/admin/offers/{args.offer_id}/audit")
    rows = [
        [when(a["at"]), f"{a['from_status'] or '—'} → {a['to_status'] or '—'}", a["reason_code"], a["actor"]]
        for a in audit
    ]
    return {"offer": offer, "audit": audit}, [
        table(f"offer {args.offer_id}", OFFER_COLUMNS, _offer_rows([offer])),
        table("audit", ["at (UTC)", "transition", "reason", "actor"], rows),
    ]


def offers_create(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {
        "new_limit_cents": args.new_limit_cents,
        "rate_bps": args.rate_bps,
        "term_months": args.term_months,
        "expires_at": int(time.time() * 1000) + args.expires_in_hours * 3_600_000,
        "reason_codes": args.reason or [],
    }
    offer = client.call("POST", f"/v1/admin/users/{args.user_id}/offers", body=body)
    return offer, [table("offer created", OFFER_COLUMNS, _offer_rows([offer]))]


def offers_withdraw(client: AdminClient, args: argparse.Namespace) -> Result:
    offer = client.call(
        "POST", f"/v1/admin/offers/{args.offer_id}/withdraw", body={"reason_code": args.reason}
    )
    return offer, [table("offer withdrawn", OFFER_COLUMNS, _offer_rows([offer]))]


def _evaluation_rows(evaluations: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for e in evaluations:
        result = e.get("result") or {}
        rows.append([
            e["evaluation_id"], e["user_id"], e["status"], e["trigger"], str(result.get("score", "—")),
            str(result.get("risk_band") or "—"), e.get("offer_id") or "—", when(e["created_at"]),
        ])  # fmt: skip
    return rows


EVALUATION_COLUMNS: Final = [
    "evaluation",
    "user",
    "status",
    "trigger",
    "score",
    "band",
    "offer",
    "created (UTC)",
]


def evaluations_list(client: AdminClient, args: argparse.Namespace) -> Result:
    found = list(
        client.items("/v1/admin/evaluations", {"status": args.status, "user_id": args.user}, _limit(args))
    )
    return found, [
        table(f"{len(found)} evaluations, newest first", EVALUATION_COLUMNS, _evaluation_rows(found))
    ]


def evaluations_show(client: AdminClient, args: argparse.Namespace) -> Result:
    evaluation = client.call("GET", f"/v1/admin/evaluations/{args.evaluation_id}")
    result = evaluation.get("result") or {}
    codes = [
        ["reason codes", ", ".join(result.get("reason_codes", [])) or "—"],
        ["no offer because", result.get("no_offer_reason") or "—"],
    ]
    return evaluation, [
        table(f"evaluation {args.evaluation_id}", EVALUATION_COLUMNS, _evaluation_rows([evaluation])),
        table("decision", ["what", "value"], codes),
    ]


def codes_create(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {} if args.ttl_s is None else {"ttl_s": args.ttl_s}
    code = client.call("POST", f"/v1/admin/users/{args.user_id}/enrollment-codes", body=body)
    rows = [["code", code["code"]], ["expires (UTC)", when(code["expires_at"])], ["user", args.user_id]]
    return code, [table("enrollment code (shown once)", ["what", "value"], rows)]


def outbox_stats(client: AdminClient, args: argparse.Namespace) -> Result:
    stats = client.call("GET", "/v1/admin/outbox")
    rows = [[c["kind"], c["state"], str(c["count"])] for c in stats["counts"]]
    queue = stats["queue"]
    age_ms = stats["oldest_pending_age_ms"]
    facts = [
        ["oldest due row", "—" if age_ms is None else f"{age_ms / 1000:.1f} s"],
        ["deferred rows", str(stats["deferred_pending"])],
        ["queue", f"{queue['name']}: {'—' if queue['depth'] is None else queue['depth']} waiting"],
        ["workers", queue.get("worker_health") or "no recent health line"],
    ]
    return stats, [
        table("outbox rows", ["kind", "state", "rows"], rows),
        table("queue", ["what", "value"], facts),
    ]


def outbox_dead(client: AdminClient, args: argparse.Namespace) -> Result:
    page = client.call("GET", "/v1/admin/outbox/dead", params={"limit": args.limit})
    rows = [
        [str(d["outbox_id"]), d["kind"], str(d["attempts"]), d["last_error"] or "—", when(d["dead_at"])]
        for d in page["items"]
    ]
    return page, [table("dead letters", ["row", "kind", "attempts", "last error", "dead since (UTC)"], rows)]


def outbox_retry(client: AdminClient, args: argparse.Namespace) -> Result:
    retried = client.call("POST", f"/v1/admin/outbox/{args.outbox_id}/retry")
    queued = "yes" if retried["enqueued"] else "by the relay"
    rows = [[str(retried["outbox_id"]), retried["kind"], retried["state"], str(retried["attempt"]), queued]]
    return retried, [table("retried", ["row", "kind", "state", "attempt", "queued now"], rows)]


def doctor(client: AdminClient, args: argparse.Namespace) -> Result:
    """The cloud's own checks, its readiness, and the skew between this machine's clock and the API's."""
    sent = time.time()
    ready = client.response("GET", "/health/ready")
    received = time.time()
    report = client.call("GET", "/v1/admin/doctor")
    checks = list(report["checks"])
    is_ready = ready.status_code == 200
    detail = "database and Redis answer" if is_ready else _refusal(ready, "ready")
    checks.insert(0, {"name": "ready", "ok": is_ready, "detail": detail})
    date = ready.headers.get("date")
    if date:
        server = email.utils.parsedate_to_datetime(date).timestamp()
        # Date has whole seconds: a skew under 2 s cannot be told from the rounding and the trip.
        skew = server - (sent + received) / 2
        checks.append(
            {"name": "clock skew to the API", "ok": abs(skew) < 2.0, "detail": f"{skew:+.1f} s (Date header)"}
        )
    ok = all(c["ok"] for c in checks)
    rows = [[c["name"], "ok" if c["ok"] else "FAILED", c["detail"]] for c in checks]
    return {"ok": ok, "checks": checks}, [
        table(f"doctor: {client.server}", ["check", "result", "detail"], rows)
    ]


PASSWORD_ENV: Final = "ECS_PASSWORD"  # noqa: S105 (the variable's name, not a password)


def _password(prompt: str) -> str:
    """The password from ``ECS_PASSWORD`` (scripts), else asked for without echo."""
    return os.environ.get(PASSWORD_ENV) or getpass.getpass(prompt)


OPERATOR_COLUMNS: Final = ["username", "role", "created (UTC)", "state"]


def _operator_rows(accounts: list[dict[str, Any]]) -> list[list[str]]:
    def state(o: dict[str, Any]) -> str:
        if o["disabled"]:
            return "disabled"
        return f"locked until {when(o['locked_until'])}" if o["locked_until"] else "active"

    return [[o["username"], o["role"], when(o["created_at"]), state(o)] for o in accounts]


def operators_bootstrap(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {"username": args.username, "password": _password(f"password for {args.username}: ")}
    account = client.call("POST", "/v1/admin/operators/bootstrap", body=body)
    return account, [table("the first admin", OPERATOR_COLUMNS, _operator_rows([account]))]


def operators_create(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {
        "username": args.username,
        "password": _password(f"password for {args.username}: "),
        "role": args.role,
    }
    account = client.call("POST", "/v1/admin/operators", body=body)
    return account, [table("account created", OPERATOR_COLUMNS, _operator_rows([account]))]


def operators_list(client: AdminClient, args: argparse.Namespace) -> Result:
    accounts = client.call("GET", "/v1/admin/operators")["items"]
    return accounts, [table(f"{len(accounts)} operator accounts", OPERATOR_COLUMNS, _operator_rows(accounts))]


def operators_role(client: AdminClient, args: argparse.Namespace) -> Result:
    account = client.call("PUT", f"/v1/admin/operators/{args.username}/role", body={"role": args.role})
    return account, [table("role changed", OPERATOR_COLUMNS, _operator_rows([account]))]


def operators_disable(client: AdminClient, args: argparse.Namespace) -> Result:
    account = client.call("POST", f"/v1/admin/operators/{args.username}/disable")
    return account, [table("account disabled", OPERATOR_COLUMNS, _operator_rows([account]))]


def operators_audit(client: AdminClient, args: argparse.Namespace) -> Result:
    events = list(client.items("/v1/admin/auth-audit", {}, _limit(args)))
    rows = [
        [when(e["at"]), e["event"], e["username"], e["actor"] or "", e["address"] or "", e["detail"] or ""]
        for e in events
    ]
    columns = ["at (UTC)", "event", "username", "by", "address", "detail"]
    return events, [table(f"{len(events)} auth events, newest first", columns, rows)]


KEY_COLUMNS: Final = ["key id", "name", "role", "created (UTC)", "by", "state"]


def _key_rows(keys: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [k["key_id"], k["name"], k["role"], when(k["created_at"]), k.get("created_by", ""),
         "revoked" if k.get("revoked") else "live"]
        for k in keys
    ]  # fmt: skip


def keys_create(client: AdminClient, args: argparse.Namespace) -> Result:
    key = client.call("POST", "/v1/admin/service-keys", body={"name": args.name, "role": args.role})
    shown = table(
        "service key created: the key is shown this once", ["key id", "role", "key"],
        [[key["key_id"], key["role"], key["key"]]],
    )  # fmt: skip
    return key, [shown]


def keys_list(client: AdminClient, args: argparse.Namespace) -> Result:
    keys = client.call("GET", "/v1/admin/service-keys")["items"]
    return keys, [table(f"{len(keys)} service keys", KEY_COLUMNS, _key_rows(keys))]


def keys_revoke(client: AdminClient, args: argparse.Namespace) -> Result:
    key = client.call("POST", f"/v1/admin/service-keys/{args.key_id}/revoke")
    return key, [table("service key revoked", KEY_COLUMNS, _key_rows([key]))]


REVIEW_COLUMNS: Final = ["review", "user", "offer", "status", "opened", "closed by"]


def _review_rows(reviews: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            r["review_id"],
            r["user_id"],
            r["offer_id"],
            r["status"],
            when(r["created_at"]),
            r["closed_by"] or "—",
        ]
        for r in reviews
    ]


def reviews_list(client: AdminClient, args: argparse.Namespace) -> Result:
    reviews = list(client.items("/v1/admin/reviews", {"status": args.status}, _limit(args)))
    return reviews, [table(f"{len(reviews)} reviews, newest first", REVIEW_COLUMNS, _review_rows(reviews))]


def reviews_close(client: AdminClient, args: argparse.Namespace) -> Result:
    review = client.call(
        "POST", f"/v1/admin/reviews/{args.review_id}/close", body={"resolution": args.resolution}
    )
    return review, [
        table("review closed: the user is sent the answer", REVIEW_COLUMNS, _review_rows([review]))
    ]


def login(client: AdminClient, args: argparse.Namespace) -> Result:
    body = {"username": args.username, "password": _password(f"password for {args.username}: ")}
    session = client.call("POST", "/v1/admin/login", body=body)
    shown = table(
        f"signed in as {session['username']} ({session['role']}) until {when(session['expires_at'])} UTC;"
        " export ADMIN_TOKEN=<token> for the other commands",
        ["token"],
        [[session["token"]]],
    )
    return session, [shown]


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The operator subcommands, on the root parser's subparsers; each sets ``run``."""

    def group(name: str, help: str) -> Any:
        return commands.add_parser(name, help=help, description=help).add_subparsers(
            dest="action", required=True, metavar="<action>"
        )

    def command(parent: Any, name: str, run: Command, help: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = parent.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(run=run)
        return sub

    def listing(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--limit", type=int, default=DEFAULT_LIMIT, help=f"rows to show (default {DEFAULT_LIMIT})"
        )
        sub.add_argument("--all", action="store_true", help="every row, page after page")

    users = group("users", "the users the cloud knows")
    sub = command(users, "list", users_list, "users, newest first")
    sub.add_argument("--ref", help="only the user with this external ref")
    listing(sub)
    sub = command(users, "show", users_show, "a user: profile, consent, devices, offers and latest events")
    sub.add_argument("user_id")
    sub.add_argument("--events", type=int, default=DEFAULT_LIMIT, help="timeline events to show")
    sub = command(
        users, "export", users_export, "everything held about a user, as one JSON document (audited)"
    )
    sub.add_argument("user_id")
    sub.add_argument("--output", help="also write the document to this file")
    sub = command(
        users,
        "erase",
        users_erase,
        "erase a user: personal data goes, each device wipes itself at its next sync",
    )
    sub.add_argument("user_id")
    sub.add_argument("--yes", action="store_true", help="confirm: an erasure cannot be undone")

    devices = group("devices", "enrolled devices")
    sub = command(devices, "list", devices_list, "devices, newest first")
    sub.add_argument("--user", help="only this user's")
    sub.add_argument("--platform", choices=["android", "ios"])
    sub.add_argument("--state", choices=["active", "revoked", "all"], default="all")
    listing(sub)
    command(devices, "show", devices_show, "one device").add_argument("device_id")
    sub = command(devices, "revoke", devices_revoke, "revoke a device: its tokens stop working at once")
    sub.add_argument("device_id")
    sub.add_argument(
        "--stolen", action="store_true", help="also close its lineage: no re-enrollment may continue it"
    )

    offers = group("offers", "credit offers")
    sub = command(offers, "list", offers_list, "offers, newest first")
    sub.add_argument(
        "--status", choices=["offered", "accepted", "applied", "declined", "expired", "withdrawn", "failed"]
    )
    sub.add_argument("--user", help="only this user's")
    listing(sub)
    command(offers, "show", offers_show, "an offer and its audit trail").add_argument("offer_id")
    sub = command(offers, "create", offers_create, "offer explicit terms on the user's current limit")
    sub.add_argument("user_id")
    sub.add_argument("--new-limit-cents", type=int, required=True)
    sub.add_argument("--rate-bps", type=int, required=True)
    sub.add_argument("--term-months", type=int, default=0)
    sub.add_argument("--expires-in-hours", type=int, default=72)
    sub.add_argument("--reason", action="append", help="a reason code (repeat for more)")
    sub = command(offers, "withdraw", offers_withdraw, "withdraw an open offer")
    sub.add_argument("offer_id")
    sub.add_argument("--reason", default="withdrawn", help="the audit's reason code")

    evaluations = group("evaluations", "credit evaluations")
    sub = command(evaluations, "list", evaluations_list, "evaluations, newest first")
    sub.add_argument("--status", choices=["pending", "done", "failed"])
    sub.add_argument("--user", help="only this user's")
    listing(sub)
    command(evaluations, "show", evaluations_show, "an evaluation and its decision").add_argument(
        "evaluation_id"
    )

    reviews = group("reviews", "users' requests that a person review an automated decision")
    sub = command(reviews, "list", reviews_list, "review requests, newest first")
    sub.add_argument("--status", choices=["open", "closed"])
    listing(sub)
    sub = command(reviews, "close", reviews_close, "close a review; the user is sent the answer as a notice")
    sub.add_argument("review_id")
    sub.add_argument("--resolution", required=True, help="the reviewer's answer, as the user will read it")

    codes = group("codes", "enrollment codes")
    sub = command(codes, "create", codes_create, "a one-time enrollment code for a user")
    sub.add_argument("user_id")
    sub.add_argument("--ttl-s", type=int, default=None, help="lifetime in seconds (default the server's)")

    outbox = group("outbox", "the outbox and the job queue")
    command(
        outbox, "stats", outbox_stats, "rows by kind and state, the oldest due row, the queue and workers"
    )
    sub = command(outbox, "dead", outbox_dead, "dead-letter rows")
    sub.add_argument("--limit", type=int, default=100)
    command(outbox, "retry", outbox_retry, "send a dead row back for a new round of attempts").add_argument(
        "outbox_id", type=int
    )

    roles = ["viewer", "operator", "admin"]
    operators = group("operators", "operator accounts (the admin role; bootstrap: the static admin token)")
    sub = command(operators, "bootstrap", operators_bootstrap, "the first admin account, once")
    sub.add_argument("--username", required=True)
    sub = command(
        operators, "create", operators_create, f"an account (password from {PASSWORD_ENV} or asked)"
    )
    sub.add_argument("--username", required=True)
    sub.add_argument("--role", choices=roles, required=True)
    command(operators, "list", operators_list, "every account")
    sub = command(operators, "role", operators_role, "change an account's role")
    sub.add_argument("username")
    sub.add_argument("role", choices=roles)
    command(operators, "disable", operators_disable, "disable an account and end its sessions").add_argument(
        "username"
    )
    sub = command(operators, "audit", operators_audit, "logins, failures, lockouts and account changes")
    listing(sub)

    keys = group("keys", "service keys for the lender's backend and other programs (the admin role)")
    sub = command(keys, "create", keys_create, "a key, shown once (rotate: create the next, then revoke)")
    sub.add_argument("--name", required=True)
    sub.add_argument("--role", choices=["viewer", "operator"], required=True)
    command(keys, "list", keys_list, "every key, never a secret")
    command(keys, "revoke", keys_revoke, "revoke a key at once").add_argument("key_id")

    sub = commands.add_parser(
        "login",
        help="sign in as an operator and print a session token",
        description=f"Sign in (the password from {PASSWORD_ENV} or asked for) and print a session token for"
        " ADMIN_TOKEN or --admin-token.",
        parents=[common],
    )
    sub.add_argument("--username", required=True)
    sub.set_defaults(run=login, no_token=True)

    sub = commands.add_parser(
        "doctor",
        help="check settings, database, Redis, migrations, workers and clocks",
        description="The cloud's own checks (settings, database, Redis, migrations, workers alive, the"
        " database's clock) and the skew between this machine's clock and the API's; exit 1 if any fails.",
        parents=[common],
    )
    sub.set_defaults(run=doctor)
