"""Every message of protocol v1 as msgspec Structs.

All wire types derive from :class:`Wire`, which tags each message with a ``type`` field
holding the class name. Times are integer Unix epoch **milliseconds**; money is integer
minor units (``*_cents``); rates are basis points (``*_bps``).

Evolution rules (see the spec): new fields get defaults, fields are never renamed or
retyped, and no wire type forbids unknown fields, so old readers skip new fields.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import msgspec

from sync.locales import LOCALE_TAG_PATTERN, MAX_LOCALE_TAG_CHARS

# --- shared field types ------------------------------------------------------------

Seq = Annotated[int, msgspec.Meta(ge=1, le=2**53)]
"""Per-device mutation sequence number: starts at 1, never repeats."""
EpochMs = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Day = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]
TzOffsetMin = Annotated[int, msgspec.Meta(ge=-840, le=840)]
Level = Annotated[int, msgspec.Meta(ge=0, le=15)]
LevelCount = Annotated[int, msgspec.Meta(ge=2, le=16)]
Epsilon = Annotated[float, msgspec.Meta(gt=0.0, le=10.0)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Cents = Annotated[int, msgspec.Meta(ge=0, le=10**12)]
Bps = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
Version = Annotated[int, msgspec.Meta(ge=1)]
MAX_RELEASE = 2**31 - 1
ReleaseNumber = Annotated[int, msgspec.Meta(ge=1, le=MAX_RELEASE)]
"""A model release's number: monotonic, a device accepts only one above the release it runs."""
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
ModelVersion = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
FeatureSpecVersion = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]
ReleaseSignature = Annotated[str, msgspec.Meta(max_length=128)]
"""The base64 of a 64-byte Ed25519 signature (:mod:`sync.releases`)."""


NO_NUL = r"^[^\x00]*$"
"""A text a server stores: PostgreSQL's text cannot hold a NUL character."""

LocaleTag = Annotated[str, msgspec.Meta(max_length=MAX_LOCALE_TAG_CHARS, pattern=LOCALE_TAG_PATTERN)]
"""A device's locale, a BCP 47 tag (:mod:`sync.locales`)."""


class Wire(msgspec.Struct, tag_field="type", kw_only=True):
    """Base of every wire message; the ``type`` tag is the class name."""


# --- mutations (device -> cloud) ---------------------------------------------------


class ConsentScope(StrEnum):
    INFERENCE = "inference"
    SHARE_AGGREGATES = "share_aggregates"
    PUSH = "push"


class Platform(StrEnum):
    ANDROID = "android"
    IOS = "ios"


class FieldMechanism(msgspec.Struct, kw_only=True):
    """k-ary randomized response applied to one released field."""

    k: LevelCount
    epsilon: Epsilon


class Mechanism(msgspec.Struct, kw_only=True):
    """How each level of an aggregate was released, so the cloud can debias it."""

    name: str = "k_rr"
    stress: FieldMechanism
    valence: FieldMechanism
    arousal: FieldMechanism


class Levels(msgspec.Struct, kw_only=True):
    """Discretised daily levels as released by the mechanism (0 = lowest)."""

    stress: Level
    valence: Level
    arousal: Level


class Mutation(Wire, kw_only=True):
    """Base of every pushed mutation."""

    seq: Seq
    created_at: EpochMs
    """Device clock when the user or SDK made the change."""


class SubmitAggregate(Mutation, kw_only=True):
    """One privacy-protected daily aggregate; at most one per (device lineage, day)."""

    day: Day
    tz_offset_min: TzOffsetMin
    window_bucket: Annotated[int, msgspec.Meta(ge=0, le=64)]
    levels: Levels
    mechanism: Mechanism
    model_version: Id

    def __post_init__(self) -> None:
        # The pattern admits calendar-impossible days such as 2024-02-30; refuse them here so
        # msgspec reports them as a validation error of this one mutation.
        try:
            date.fromisoformat(self.day)
        except ValueError:
            raise ValueError(f"`day` is not a calendar date: {self.day!r}") from None
        # A level is one of the mechanism's k outcomes; one at or above k cannot be debiased.
        for name in ("stress", "valence", "arousal"):
            level: int = getattr(self.levels, name)
            k: int = getattr(self.mechanism, name).k
            if level >= k:
                raise ValueError(
                    f"`levels.{name}` is {level}, but the mechanism releases it over k={k} levels"
                )


class AcceptOffer(Mutation, kw_only=True):
    """The user accepted an offer (possibly offline, at ``created_at`` device time)."""

    offer_id: Id


class DeclineOffer(Mutation, kw_only=True):
    offer_id: Id
    reason: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class SetConsent(Mutation, kw_only=True):
    """Grant or revoke one consent scope."""

    scope: ConsentScope
    granted: bool


class RegisterPushToken(Mutation, kw_only=True):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    platform: Platform


class AckNotice(Mutation, kw_only=True):
    notice_id: Id


class RequestReview(Mutation, kw_only=True):
    """The user asks a person to review the automated decision behind an offer (LGPD art. 20, GDPR
    art. 22). Protocol 2 and later."""

    offer_id: Id
    note: Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)] | None = None
    """What the user wants the reviewer to know (no NUL character: a database may not hold one)."""


class Withdrawn(Mutation, kw_only=True):
    """Tombstone keeping a seq whose content the device deleted; acknowledged and ignored."""

    original_type: Annotated[str, msgspec.Meta(max_length=64)] | None = None


AnyMutation = (
    SubmitAggregate
    | AcceptOffer
    | DeclineOffer
    | SetConsent
    | RegisterPushToken
    | AckNotice
    | RequestReview
    | Withdrawn
)
MUTATION_TYPES: tuple[type[Mutation], ...] = (
    SubmitAggregate,
    AcceptOffer,
    DeclineOffer,
    SetConsent,
    RegisterPushToken,
    AckNotice,
    RequestReview,
    Withdrawn,
)


# --- changes (cloud -> device) -----------------------------------------------------


class OfferStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    APPLIED = "applied"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class Offer(msgspec.Struct, kw_only=True):
    offer_id: Id
    status: OfferStatus
    current_limit_cents: Cents
    new_limit_cents: Cents
    rate_bps: Bps
    term_months: Annotated[int, msgspec.Meta(ge=0, le=600)] = 0
    expires_at: EpochMs
    reason_codes: list[str] = msgspec.field(default_factory=list)
    updated_at: EpochMs
    reasons: list[Annotated[str, msgspec.Meta(max_length=500)]] = msgspec.field(default_factory=list)
    """``reason_codes`` in plain language, in the user's locale (spec §5.8)."""


class Profile(msgspec.Struct, kw_only=True):
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
    limit_cents: Cents
    used_cents: Cents
    rate_bps: Bps
    updated_at: EpochMs

    @property
    def available_cents(self) -> int:
        """What the user can still draw: the limit less what is used, never below zero (an
        over-limit balance leaves nothing available). Derived, so not on the wire."""
        return max(0, self.limit_cents - self.used_cents)


class Change(Wire, kw_only=True):
    """Base of every pulled change; ``version`` is the user's change-log version."""

    version: Version


class OfferUpsert(Change, kw_only=True):
    offer: Offer


class OfferRemoved(Change, kw_only=True):
    offer_id: Id


class ProfileUpdate(Change, kw_only=True):
    profile: Profile


class Notice(Change, kw_only=True):
    notice_id: Id
    kind: Annotated[str, msgspec.Meta(max_length=64)]
    title: Annotated[str, msgspec.Meta(max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=2000)]
    created_at: EpochMs
    acked: bool = False
    """The user acknowledged it on one of their devices; the cloud re-sends the notice when acked."""


class ConsentState(Change, kw_only=True):
    """The user's consent as the cloud holds it, one entry per scope."""

    scopes: dict[ConsentScope, bool]


class ModelRelease(Change, kw_only=True):
    """A signed model release for the user's devices (spec §5.9; protocol 2 and later).

    The first four fields are the signed :class:`sync.releases.ReleaseManifest`; ``signature`` is the
    release key's over them. ``url`` is the release's folder under the cloud's base URL: its
    ``manifest.json`` and the model files that manifest names are fetched from there.
    """

    release: ReleaseNumber
    model_version: ModelVersion
    feature_spec_version: FeatureSpecVersion
    sha256: Sha256Hex
    """SHA-256 of the release's ``manifest.json``."""
    url: Annotated[str, msgspec.Meta(max_length=2048)]
    signature: ReleaseSignature = ""


class Wipe(Change, kw_only=True):
    """Erase the device's store, keys and identity."""

    reason: Annotated[str, msgspec.Meta(max_length=64)]


AnyChange = OfferUpsert | OfferRemoved | ProfileUpdate | Notice | ConsentState | ModelRelease | Wipe
CHANGE_TYPES: tuple[type[Change], ...] = (
    OfferUpsert,
    OfferRemoved,
    ProfileUpdate,
    Notice,
    ConsentState,
    ModelRelease,
    Wipe,
)


# --- the exchange ------------------------------------------------------------------


class SyncRequest(Wire, kw_only=True):
    """Push pending mutations and pull changes in one exchange (``POST /v1/sync``)."""

    protocol: int
    device_id: Id
    device_time: EpochMs
    """Device clock when sending; the server measures skew from it."""
    push: list[AnyMutation] = msgspec.field(default_factory=list)
    cursor: str | None = None
    pull_limit: Annotated[int, msgspec.Meta(ge=0)] = 200
    locale: LocaleTag | None = None
    """The device's locale (a BCP 47 tag such as ``pt-BR``): what the cloud writes for the user from
    now on is in the nearest supported one (spec §5.8). ``None`` leaves the user's as it is."""
    model_version: ModelVersion | None = None
    """The model version the device serves (spec §5.9), reported to operators; ``None`` when it has
    not loaded one."""


class SyncEnvelope(Wire, tag="SyncRequest", kw_only=True):
    """Server-side view of :class:`SyncRequest`: mutations are decoded one by one later."""

    protocol: int
    device_id: Id
    device_time: EpochMs
    push: list[msgspec.Raw] = msgspec.field(default_factory=list)
    cursor: str | None = None
    pull_limit: Annotated[int, msgspec.Meta(ge=0)] = 200
    locale: LocaleTag | None = None
    model_version: ModelVersion | None = None


class MutationResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    seq: Seq
    status: str
    """One of :class:`sync.codes.ResultStatus`; kept a ``str`` so new statuses never break old clients."""
    code: str | None = None
    """A :class:`sync.codes.RejectionCode` when ``status`` is ``rejected``."""
    detail: str | None = None
    replay: bool = False
    """The seq was pushed again after it was processed (its reply was lost): this is the result it
    got then, not a second processing."""


class SyncReply(Wire, kw_only=True):
    protocol: int
    last_seq: Annotated[int, msgspec.Meta(ge=0)]
    """Highest seq the server has processed for this device; delete outbox rows up to it."""
    results: list[MutationResult] = msgspec.field(default_factory=list)
    expected_seq: int | None = None
    """Set when the push had a gap: the seq the server needs next."""
    changes: list[AnyChange] = msgspec.field(default_factory=list)
    cursor: str | None = None
    has_more: bool = False
    server_time: EpochMs
    next_sync_after_s: Annotated[int, msgspec.Meta(ge=0)] = 900


class SyncReplyEnvelope(Wire, tag="SyncReply", kw_only=True):
    """Client-side view of :class:`SyncReply`: changes are decoded one by one so unknown types are skipped."""

    protocol: int
    last_seq: Annotated[int, msgspec.Meta(ge=0)]
    results: list[MutationResult] = msgspec.field(default_factory=list)
    expected_seq: int | None = None
    changes: list[msgspec.Raw] = msgspec.field(default_factory=list)
    cursor: str | None = None
    has_more: bool = False
    server_time: EpochMs
    next_sync_after_s: Annotated[int, msgspec.Meta(ge=0)] = 900


# --- device auth -------------------------------------------------------------------


class EnrollRequest(Wire, kw_only=True):
    """``POST /v1/devices/enroll``: trade a one-time enrollment code for a device identity."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    platform: Platform
    app_version: Annotated[str, msgspec.Meta(max_length=64)] = ""
    replaces_device_id: Id | None = None
    """Set when re-enrolling a store restored from a backup: the identity it held before.

    The new device continues that device's lineage (aggregates stay unique per lineage and
    day) and the old device is revoked."""


class RefreshRequest(Wire, kw_only=True):
    """``POST /v1/devices/token``: rotate the refresh token, get a new access token."""

    device_id: Id
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class TokenPair(Wire, kw_only=True):
    device_id: Id
    user_id: Id
    access_token: str
    access_expires_at: EpochMs
    refresh_token: str
    refresh_expires_at: EpochMs


# --- errors ------------------------------------------------------------------------


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details, the body of every error answer (``application/problem+json``).

    Not a :class:`Wire` type: its ``type`` member is the RFC's problem-type URI, not a tag.
    """

    type: str = "about:blank"
    title: str
    status: int
    code: str
    """A :class:`sync.codes.ErrorCode`; the field clients branch on."""
    detail: str | None = None
    request_id: str | None = None
    supported_protocols: list[int] | None = None
    retry_after_s: int | None = None
