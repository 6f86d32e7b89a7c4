"""The edge SDK as a mobile host calls it: strings in, strings out (:mod:`mobile_bridge.bridge`).

A host app (Kotlin through Chaquopy, Swift through embedded CPython, a Flutter platform channel)
calls three functions of this module, on one process-wide :class:`~mobile_bridge.bridge.Bridge`::

    reply_json = mobile_bridge.call("open", '{"dataDir": "...", "serverUrl": "https://..."}')
    mobile_bridge.set_event_sink(lambda event_json: ...)
    mobile_bridge.set_inference_host(lambda request_json: reply_json)

``docs/mobile-integration.md`` lists every method and payload.
"""

from __future__ import annotations

from mobile_bridge.bridge import METHODS, Bridge
from mobile_bridge.host import EventSink, InferenceHook

__all__ = ["METHODS", "Bridge", "call", "set_event_sink", "set_inference_host"]

_default = Bridge()


def call(method: str, arguments_json: str | None = None) -> str:
    """Run one method of the process-wide bridge; returns its JSON reply (never raises)."""
    return _default.call(method, arguments_json)


def set_event_sink(sink: EventSink | None) -> None:
    """Register the host's event sink on the process-wide bridge."""
    _default.set_event_sink(sink)


def set_inference_host(hook: InferenceHook | None) -> None:
    """Register the host's inference hook on the process-wide bridge."""
    _default.set_inference_host(hook)
