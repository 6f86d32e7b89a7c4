"""The public facade of the edge SDK.

Every write goes to the local store first and returns without touching the network; the
readers return the local mirror with pending mutations overlaid; :meth:`EdgeClient.sync`
exchanges with the cloud when the host app decides (a timer, a push ping, connectivity).

    client = EdgeClient(EdgeSettings(base_url="https://api.example.com", db_path="ec.db"))
    client.enroll(code)                       # once, with a code from the lender's backend
    client.set_consent(ConsentScope.SHARE_AGGREGATES, True)
    client.accept_offer(offer_id)             # offline is fine
    client.offers()                           # -> the offer shows status "accepting"
    outcome = client.sync()                   # push + pull; never raises for a lost network
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import msgspec

from edge_sdk.errors import InvalidMutation
from edge_sdk.overlay import OVERLAID_TYPES, overlay_consent, overlay_notices, overlay_offers
from edge_sdk.settings import EdgeSettings
from edge_sdk.store.local import LocalStore, Rejection, open_store
from edge_sdk.store.mirror import ModelRow
from edge_sdk.sync_client.auth import DeviceAuth
from edge_sdk.sync_client.engine import ReenrollProvider, SyncEngine
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.outcome import SyncOutcome
from edge_sdk.sync_client.transport import Transport
from edge_sdk.views import ConsentView, NoticeView, OfferView, StatusView
from sync.messages import (
    AcceptOffer,
    AckNotice,
    ConsentScope,
    DeclineOffer,
    Levels,
    Mechanism,
    Mutation,
    Platform,
    Profile,
    RegisterPushToken,
    SetConsent,
    SubmitAggregate,
)


class EdgeClient:
    """One device's SDK instance over one store file.

    :param settings: where the cloud and the store are, and sync pacing.
    :param transport: the network adapter; defaults to :class:`HttpTransport` at
        ``settings.base_url``. Tests and the chaos harness pass their own.
    :param reenroll: returns a fresh enrollment code. When the cloud shows the store was
        rolled back (:class:`~edge_sdk.errors.DeviceStateRolledBack`) or no longer accepts the
        identity (:class:`~edge_sdk.errors.DeviceRevoked`), ``sync()`` re-enrolls with it,
        naming the old identity (the cloud revokes it and keeps aggregates unique across both),
        re-queues every pending mutation under the new identity and reports it in its outcome.
        Without it, ``sync()`` raises the exception.
    """

    def __init__(
        self,
        settings: EdgeSettings,
        *,
        transport: Transport | None = None,
        reenroll: ReenrollProvider | None = None,
    ) -> None:
        self.settings = settings
        self._store = open_store(settings.db_path)
        self._transport: Transport = transport or HttpTransport(settings.base_url, settings.timeout_s)
        self._owns_transport = transport is None
        self._auth = DeviceAuth(self._store, self._transport, settings)
        self._engine = SyncEngine(self._store, self._transport, settings, self._auth, reenroll)

    # --- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close the store (and the HTTP transport if this client created it)."""
        if self._owns_transport:
            self._transport.close()
        self._store.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def store(self) -> LocalStore:
        """The local store (for diagnostics and tests; apps use the methods below)."""
        return self._store

    # --- identity and sync -------------------------------------------------------

    def enroll(self, code: str) -> str:
        """Trade a one-time enrollment code for this device's identity; returns the device id.

        Needs the network. Raises :class:`~edge_sdk.errors.EnrollmentFailed` for a refused code,
        :class:`~edge_sdk.errors.AlreadyEnrolled` if the store has a usable identity, and
        :class:`~edge_sdk.errors.TransportError` when the cloud cannot be reached.
        Mutations written before enrolling are kept and pushed by the first sync.

        After :class:`~edge_sdk.errors.DeviceRevoked` (``status().identity_lost`` is set) this
        enrolls a new identity that replaces the lost one: the cloud keeps both in one lineage
        and the pending mutations are re-queued under the new identity.
        """
        return self._auth.enroll(code).device_id

    def sync(self, force: bool = False) -> SyncOutcome:
        """Push pending mutations and pull changes until up to date.

        Network failures and busy answers do not raise: the outcome says when the next attempt
        is due, and until then ``sync()`` returns at once unless ``force`` is true.
        Raises :class:`~edge_sdk.errors.NotEnrolled`, :class:`~edge_sdk.errors.DeviceRevoked`
        (without a re-enrollment provider; the loss is stored, so later calls raise it at once),
        :class:`~edge_sdk.errors.DeviceStateRolledBack` (without a re-enrollment provider),
        :class:`~edge_sdk.errors.AuthenticationFailed` and :class:`~edge_sdk.errors.ProtocolError`.
        """
        return self._engine.sync(force=force)

    # --- writes (local first, never wait on the network) -------------------------

    def _now(self) -> int:
        return self.settings.clock_ms()

    def submit_aggregate(
        self,
        *,
        day: str,
        tz_offset_min: int,
        window_bucket: int,
        levels: Levels | Mapping[str, Any],
        mechanism: Mechanism | Mapping[str, Any],
        model_version: str,
    ) -> int:
        """Queue one privacy-protected daily aggregate; returns its seq.

        ``levels`` and ``mechanism`` may be the protocol Structs or plain mappings of them.
        """
        checked_levels = _as_struct(levels, Levels, "levels")
        checked_mechanism = _as_struct(mechanism, Mechanism, "mechanism")
        created_at = self._now()
        return self._enqueue(
            lambda seq: SubmitAggregate(
                seq=seq,
                created_at=created_at,
                day=day,
                tz_offset_min=tz_offset_min,
                window_bucket=window_bucket,
                levels=checked_levels,
                mechanism=checked_mechanism,
                model_version=model_version,
            )
        )

    def accept_offer(self, offer_id: str) -> int:
        """Accept an offer (offline is fine: ``created_at`` records when); returns the seq."""
        created_at = self._now()
        return self._enqueue(lambda seq: AcceptOffer(seq=seq, created_at=created_at, offer_id=offer_id))

    def decline_offer(self, offer_id: str, reason: str | None = None) -> int:
        """Decline an offer; returns the seq."""
        created_at = self._now()
        return self._enqueue(
            lambda seq: DeclineOffer(seq=seq, created_at=created_at, offer_id=offer_id, reason=reason)
        )

    def set_consent(self, scope: ConsentScope | str, granted: bool) -> int:
        """Grant or revoke one consent scope; returns the seq."""
        if not isinstance(granted, bool):
            raise InvalidMutation(f"granted must be a bool, got {type(granted).__name__}")
        try:
            checked = ConsentScope(scope)
        except ValueError:
            raise InvalidMutation(f"unknown consent scope {scope!r}") from None
        created_at = self._now()
        return self._enqueue(
            lambda seq: SetConsent(seq=seq, created_at=created_at, scope=checked, granted=granted)
        )

    def register_push_token(self, token: str, platform: Platform | str | None = None) -> int:
        """Register this device's push token (FCM/APNs); returns the seq."""
        try:
            chosen = self.settings.platform if platform is None else Platform(platform)
        except ValueError:
            raise InvalidMutation(f"unknown platform {platform!r}") from None
        created_at = self._now()
        return self._enqueue(
            lambda seq: RegisterPushToken(seq=seq, created_at=created_at, token=token, platform=chosen)
        )

    def ack_notice(self, notice_id: str) -> int:
        """Mark a notice read; returns the seq."""
        created_at = self._now()
        return self._enqueue(lambda seq: AckNotice(seq=seq, created_at=created_at, notice_id=notice_id))

    def _enqueue(self, build: Callable[[int], Mutation]) -> int:
        return self._store.enqueue(build).seq

    # --- readers (mirror + pending overlay) --------------------------------------

    def offers(self) -> list[OfferView]:
        """Offers from the mirror; a pending accept shows ``accepting``, a pending decline ``declining``."""
        return overlay_offers(self._store.mirror_offers(), self._store.pending(OVERLAID_TYPES))

    def profile(self) -> Profile | None:
        """The credit profile as last pulled, or ``None`` before the cloud sent one."""
        row = self._store.mirror_profile()
        return row.profile if row else None

    def notices(self) -> list[NoticeView]:
        """Notices from the mirror; a pending acknowledgement shows as acked."""
        return overlay_notices(self._store.mirror_notices(), self._store.pending(OVERLAID_TYPES))

    def consent(self) -> ConsentView:
        """Every consent scope, with pending ``set_consent`` calls applied."""
        return overlay_consent(self._store.mirror_consent(), self._store.pending(OVERLAID_TYPES))

    def model_releases(self) -> list[ModelRow]:
        """Model releases the cloud announced, oldest first."""
        return self._store.mirror_models()

    def rejections(self) -> list[Rejection]:
        """Mutations the cloud processed and refused, with its reason codes."""
        return self._store.rejections()

    def status(self) -> StatusView:
        """Identity, outbox size and sync timing, from the store alone."""
        state = self._store.state()
        return StatusView(
            enrolled=state.device_id is not None,
            device_id=state.device_id,
            user_id=state.user_id,
            pending=self._store.pending_count(),
            last_seq_acked=state.last_seq_acked,
            highest_seq_allocated=state.highest_seq_allocated,
            last_sync_at=state.last_sync_at,
            next_attempt_at=state.next_attempt_at,
            next_sync_hint_at=state.next_sync_hint_at,
            consecutive_failures=state.consecutive_failures,
            skew_ms=state.skew_ms,
            last_error=state.last_error,
            rejected=len(self._store.rejections()),
            identity_lost=state.identity_lost,
        )


_S = TypeVar("_S", bound=msgspec.Struct)


def _as_struct(value: object, kind: type[_S], name: str) -> _S:
    """``value`` as a ``kind`` Struct, converting (and validating) a plain mapping."""
    if isinstance(value, kind):
        return value
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise InvalidMutation(f"`{name}`: {exc}") from exc
