"""The bridge's wire types: every method's arguments and result, camelCase, as msgspec Structs.

Arguments are decoded strictly (unknown fields, wrong types and missing fields are refused with
``invalid_arguments``), so a host's typo never silently does something else. Results are the
SDK's views restated for the host: a stable contract of their own, so the SDK may change inside
without breaking the Kotlin, Swift or Dart code that reads them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from edge_sdk.capture.events import AppEventKind, EpochMs, KeyClass, TouchPhase
from sync.messages import ConsentScope, LocaleTag, Platform


class Args(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    """Base of every method's arguments."""


class Result(msgspec.Struct, rename="camel", kw_only=True):
    """Base of every method's result."""


class NoArgs(Args):
    """A method that takes nothing: ``{}`` or ``null``."""


# --- open / enroll / consent ----------------------------------------------------------------------


class OpenArgs(Args):
    data_dir: Annotated[str, msgspec.Meta(min_length=1)]
    """The app's private files folder (Android ``Context.filesDir``, iOS Application Support)."""
    server_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#\s]+")]
    platform: Platform = Platform.ANDROID
    app_version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    locale: LocaleTag | None = None
    """The device's language as a BCP 47 tag (``pt-BR``): offer reasons and notices come in it, or
    in the nearest one the cloud supports."""
    release_public_key: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    """The Ed25519 public key (base64) model releases must be signed with; ``null`` refuses every
    release and the shipped model serves (``updateModel``)."""
    inference: Literal["auto", "host"] = "auto"
    """``host``: the host runs the model (``set_inference_host``); ``auto``: a Python runtime."""
    inference_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 10.0
    network_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 15.0


class OpenResult(Result):
    enrolled: bool
    device_id: str | None


class EnrollArgs(Args):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class EnrollResult(Result):
    device_id: str


class ConsentArgs(Args):
    scope: ConsentScope


class SeqResult(Result):
    """A write queued in the outbox, to be sent by the next sync."""

    seq: int


class ConsentResult(Result):
    scopes: dict[str, bool]
    pending: list[str]
    """Scopes changed here and not yet acknowledged by the cloud."""


# --- capture and the model ------------------------------------------------------------------------


class KeyEventArgs(Args, tag="key", tag_field="type"):
    down_ms: EpochMs
    up_ms: EpochMs
    key_class: KeyClass


class TouchEventArgs(Args, tag="touch", tag_field="type"):
    t_ms: EpochMs
    phase: TouchPhase
    pressure: float
    size: float
    x: float
    y: float


class MotionEventArgs(Args, tag="motion", tag_field="type"):
    t_ms: EpochMs
    ax: float
    ay: float
    az: float


class AppEventArgs(Args, tag="app", tag_field="type"):
    t_ms: EpochMs
    kind: AppEventKind
    screen: str


EventArgs = KeyEventArgs | TouchEventArgs | MotionEventArgs | AppEventArgs


class RecordArgs(Args):
    events: list[EventArgs]


class RecordResult(Result):
    kept: int
    """Events buffered (0 without the ``inference`` consent: the batch is dropped unread)."""


class ProcessArgs(Args):
    now_ms: EpochMs | None = None
    tz_offset_min: Annotated[int, msgspec.Meta(ge=-840, le=840)] | None = None


class ProcessResult(Result):
    windows: int
    scored: int
    stored: int
    skipped: int
    consent_missing: bool
    model_version: str | None


class ModelUpdateResult(Result):
    status: Literal["installed", "current", "none"]
    """``installed``: the announced release now serves; ``current``: it was running already;
    ``none``: no release was announced to this device."""
    release: int
    """The release running (0: the model shipped with the app)."""
    model_version: str | None


class ReleaseArgs(Args):
    now_ms: EpochMs | None = None
    tz_offset_min: Annotated[int, msgspec.Meta(ge=-840, le=840)] | None = None


class ReleasedDayResult(Result):
    day: str
    seq: int
    epsilon: float


class ReleaseResult(Result):
    released: list[ReleasedDayResult]
    below_minimum: list[str]
    over_cap: list[str]
    consent_missing: bool


class WindowSummaryArgs(Args):
    tz_offset_min: Annotated[int, msgspec.Meta(ge=-840, le=840)] = 0


class WindowDay(Result):
    day: str
    windows: int
    mean_stress: float
    mean_valence: float
    mean_arousal: float


class WindowSummaryResult(Result):
    """The user's own emotion estimates, per local day: held on the phone, never sent."""

    windows: int
    days: list[WindowDay]


class LedgerDay(Result):
    day: str
    status: str
    epsilon: float


class LedgerResult(Result):
    days: list[LedgerDay]
    lifetime_epsilon: float
    lifetime_cap: float
    remaining: float


# --- sync and what it mirrors ---------------------------------------------------------------------


class SyncArgs(Args):
    force: bool = False
    """Sync even while an earlier failure's back-off is running (the user pulled to refresh)."""


class SyncResult(Result):
    status: str
    """``synced``, ``more_pending``, ``backing_off``, ``retry_scheduled`` or ``wiped``."""
    pushed: int
    pulled: int
    rejected: int
    next_attempt_at: int | None
    offers_changed: bool
    profile_changed: bool
    new_notices: list[str]


class OfferResult(Result):
    offer_id: str
    status: str
    """As the user should see it: a pending accept is ``accepting``, a pending decline ``declining``."""
    current_limit_cents: int
    new_limit_cents: int
    rate_bps: int
    term_months: int
    expires_at: int
    reason_codes: list[str]
    reasons: list[str]
    """The offer's reasons in plain language, to show the user (LGPD art. 20)."""
    pending: bool


class OffersResult(Result):
    offers: list[OfferResult]


class OfferArgs(Args):
    offer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class DeclineArgs(Args):
    offer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    reason: Annotated[str, msgspec.Meta(max_length=200)] | None = None


class ReviewArgs(Args):
    offer_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    """What the user wants the reviewer to know."""


class ProfileResult(Result):
    currency: str
    limit_cents: int
    used_cents: int
    available_cents: int
    rate_bps: int
    updated_at: int


class NoticeResult(Result):
    notice_id: str
    kind: str
    title: str
    body: str
    created_at: int
    acked: bool


class NoticesResult(Result):
    notices: list[NoticeResult]


class AckArgs(Args):
    notice_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class PushTokenArgs(Args):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class PushArgs(Args):
    """An FCM/APNs message as the platform delivered it: ``data`` as sent, ``notification`` if any.

    Only ``data.type`` is read. A notification's text is for display only: the mirror changes
    only through the change log the sync it triggers pulls."""

    data: dict[str, str]
    notification: dict[str, str] | None = None


class PushResult(Result):
    handled: bool
    """``False``: not one of ours (another SDK's message); nothing was done."""
    sync: SyncResult | None


class NextSyncResult(Result):
    delay_ms: int
    reason: Literal["pending", "backoff", "server_hint", "periodic", "not_enrolled"]


class EraseArgs(Args):
    force: bool = False
    """Erase even if accepted offers could not be delivered (they are then lost)."""


class EraseResult(Result):
    erased: bool
    lost_offer_accepts: list[str]
    """Offers whose acceptance had not reached the cloud and was erased (only with ``force``)."""


class StatusResult(Result):
    enrolled: bool
    device_id: str | None
    pending: int
    last_sync_at: int | None
    next_attempt_at: int | None
    consecutive_failures: int
    last_error: str | None
    identity_lost: str | None


class Event(msgspec.Struct, rename="camel", kw_only=True):
    """What the bridge tells the host's event sink, as ``{"event": name, "data": {...}}``."""

    event: Literal["offersChanged", "profileChanged", "notice", "deviceWiped", "reenrollmentNeeded"]
    data: dict[str, str]
