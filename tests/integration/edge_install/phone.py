"""A phone's Python, as the edge install gives it: run by the fresh virtualenv's interpreter in
isolated mode (``-I``: the source checkout is not on the path), it drives ``mobile_bridge`` with
JSON strings only. The model runs on "the phone's native runtime", which is the test process: each
inference request is written to stdout as ``INFER <json>`` and its reply read from stdin.

Usage: ``python -I phone.py <config.json>``; prints ``RESULT <json>`` last.
"""

import importlib.util
import json
import resource
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    config = json.load(f)
absent = [
    name
    for name in (
        "litestar",
        "aiosqlite",
        "arq",
        "redis",
        "psycopg",
        "firebase_admin",
        "uvicorn",
        "tensorflow",
        "tflite_runtime",
        "ai_edge_litert",
        "models",
    )
    if importlib.util.find_spec(name) is not None
]

import mobile_bridge  # noqa: E402 (after the checks: importing must not pull any of them in)


def native_runtime(request_json: str) -> str:
    print("INFER " + request_json, flush=True)
    return sys.stdin.readline()


replies = {}


def call(method: str, args: dict) -> dict:
    reply = json.loads(mobile_bridge.call(method, json.dumps(args)))
    replies.setdefault(method, []).append(reply)
    return reply


mobile_bridge.set_inference_host(native_runtime)
events: list = []
mobile_bridge.set_event_sink(lambda text: events.append(json.loads(text)["event"]))
call(
    "open",
    {
        "dataDir": config["data_dir"],
        "serverUrl": config["server_url"],
        "inference": "host",
        "appVersion": "1.0",
    },
)
call("enroll", {"code": config["code"]})
call("grantConsent", {"scope": "inference"})
call("grantConsent", {"scope": "share_aggregates"})
for batch in config["batches"]:
    call("record", {"events": batch})
call("process", {"tzOffsetMin": config["offset"]})
call("releaseDailyAggregates", {"tzOffsetMin": config["offset"]})
call("sync", {})
offers = call("offers", {})
for offer in offers.get("result", {}).get("offers", []):
    call("acceptOffer", {"offerId": offer["offerId"]})
call("sync", {})
call("close", {})
loaded = sorted(
    name
    for name in sys.modules
    if name.split(".")[0] in {"cloud", "models", "litestar", "tensorflow", "tflite_runtime", "ai_edge_litert"}
)
result = {
    "present_but_should_not_be": absent,
    "loaded_but_should_not_be": loaded,
    "bridge_file": mobile_bridge.__file__,
    "replies": replies,
    "events": events,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}
print("RESULT " + json.dumps(result), flush=True)
