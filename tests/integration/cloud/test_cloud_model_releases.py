"""Signed model releases end to end (spec §5.9): a release key made and used offline by ``ecs``, the
release published and rolled out by cohort through the admin API, a real SDK over HTTP pulling,
fetching, verifying and serving it, a forged release refused with the model serving unchanged, a
rollback, and every refusal of the admin API."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.domain.releases.rules import cohort_bucket
from ecs.cli import Exit, main
from edge_sdk.client import EdgeClient
from edge_sdk.inference.errors import ReleaseRefusal, ReleaseRefused
from edge_sdk.settings import EdgeSettings, PipelineSettings
from sync.codes import ErrorCode
from sync.messages import ConsentScope
from tests.support.databases import Databases
from tests.support.live_server import LiveServer
from tests.support.releases import release_folder, sign_folder

pytestmark = pytest.mark.engines("sqlite", "postgres")

SHIPPED = "emotion-v1.0.0"
PATH = "/v1/admin/model-releases"
_FOLDERS = itertools.count()


@pytest.fixture(scope="module")
def server(
    engine: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory, databases: Databases
) -> Iterator[LiveServer]:
    url = databases.url(engine)
    with LiveServer(
        tmp_path_factory.mktemp("releases"), redis_url, env={} if url is None else {"DATABASE_URL": url}
    ) as live:
        yield live


def ecs(server: LiveServer | None, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """``ecs --json <argv>`` (against ``server`` unless it is an offline command)."""
    deployment = [] if server is None else ["--server", server.base_url, "--admin-token", server.admin_token]
    code = main(["--json", *argv, *deployment])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else None


def test_a_signed_release_reaches_its_cohort_and_the_phone_serves_it(
    server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, key = ecs(None, capsys, "models", "keygen", "--out", str(tmp_path / "release.pem"))
    assert code == Exit.OK
    assert ecs(None, capsys, "models", "keygen", "--out", str(tmp_path / "release.pem"))[0] == Exit.FAILED
    folder = release_folder(tmp_path / "r1", "emotion-v1.0.1")
    code, signed = ecs(None, capsys, "models", "sign", str(folder), "--key", str(tmp_path / "release.pem"),
                       "--release", "1")  # fmt: skip
    assert code == Exit.OK and signed["manifest"]["model_version"] == "emotion-v1.0.1"
    code, published = ecs(server, capsys, "models", "publish", str(folder))
    assert code == Exit.OK
    assert (published["release"], published["rollout_percent"], published["url"]) == (1, 0, "/v1/models/1")

    user_id = server.create_user()
    settings = EdgeSettings(base_url=server.base_url, db_path=tmp_path / "phone.db")
    pipeline = PipelineSettings(release_public_key=key["public_key"])
    with EdgeClient(settings, pipeline=pipeline) as phone:
        phone.enroll(server.enrollment_code(user_id))
        phone.set_consent(ConsentScope.INFERENCE, True)
        phone.process()
        phone.sync()
        assert phone.model_releases() == [] and phone.update_model().status == "none"

        # The cohort: just short of the user's bucket leaves them out, one more takes them in.
        bucket = cohort_bucket(user_id)
        assert ecs(server, capsys, "models", "rollout", "1", "--percent", f"{bucket / 100:.2f}")[0] == Exit.OK
        phone.sync()
        assert phone.model_releases() == []
        code, widened = ecs(
            server, capsys, "models", "rollout", "1", "--percent", f"{(bucket + 1) / 100:.2f}"
        )
        assert code == Exit.OK and widened["rollout_percent"] == (bucket + 1) / 100
        phone.sync()
        assert [r.release for r in phone.model_releases()] == [1]

        update = phone.update_model()

        assert (update.status, update.release, update.model_version) == ("installed", 1, "emotion-v1.0.1")
        assert phone.capture_status().model_version == "emotion-v1.0.1"
        phone.sync()  # reports the model it serves
        code, listed = ecs(server, capsys, "models", "list")
        assert code == Exit.OK and [(r["release"], r["devices"]) for r in listed] == [(1, 1)]

        # A release signed by another key: refused before anything is fetched; v1.0.1 keeps serving.
        forged = release_folder(tmp_path / "r2", "emotion-v1.0.2")
        signed_forged = sign_folder(Ed25519PrivateKey.generate(), 2, forged)
        (forged / "release.json").write_bytes(msgspec.json.encode(signed_forged))
        assert ecs(server, capsys, "models", "publish", str(forged))[0] == Exit.OK
        assert ecs(server, capsys, "models", "rollout", "2", "--percent", "100")[0] == Exit.OK
        phone.sync()
        with pytest.raises(ReleaseRefused) as refused:
            phone.update_model()
        assert refused.value.reason is ReleaseRefusal.SIGNATURE_INVALID
        assert phone.capture_status().model_version == "emotion-v1.0.1"

        # A rollback: a newer release, properly signed, carrying the shipped model.
        back = release_folder(tmp_path / "r3", SHIPPED)
        ecs(
            None,
            capsys,
            "models",
            "sign",
            str(back),
            "--key",
            str(tmp_path / "release.pem"),
            "--release",
            "3",
        )
        assert ecs(server, capsys, "models", "publish", str(back))[0] == Exit.OK
        assert ecs(server, capsys, "models", "rollout", "3", "--percent", "100")[0] == Exit.OK
        phone.sync()
        assert phone.update_model().model_version == SHIPPED

    with EdgeClient(settings, pipeline=pipeline) as restarted:
        restarted.process()
        assert restarted.capture_status().model_version == SHIPPED
        assert restarted.update_model().status == "current"


def _body(tmp_path: Path, release: int, **changes: Any) -> dict[str, Any]:
    folder = release_folder(tmp_path / f"b{next(_FOLDERS)}", "emotion-v1.0.9")
    signed = sign_folder(Ed25519PrivateKey.generate(), release, folder)
    body: dict[str, Any] = {
        "manifest": {
            "release": release,
            "model_version": signed.manifest.model_version,
            "feature_spec_version": signed.manifest.feature_spec_version,
            "sha256": signed.manifest.sha256,
        },
        "signature": signed.signature,
        "files": {p.name: base64.b64encode(p.read_bytes()).decode() for p in folder.iterdir()},
    }
    body.update(changes)
    return body


def test_the_admin_api_refuses_what_it_cannot_publish_or_roll_out(server: LiveServer, tmp_path: Path) -> None:
    admin = server.admin
    before = admin.get(PATH).json()["releases"]
    top = max((r["release"] for r in before), default=0)
    cases: list[tuple[str, Any, int, str]] = [
        ("unsigned", _body(tmp_path, top + 10, signature=""), 422, ErrorCode.RELEASE_INVALID),
        ("files not the signed ones", {**_body(tmp_path, top + 11), "files": {"manifest.json": "e30="}}, 422,
         ErrorCode.RELEASE_INVALID),
        ("release 0", _body(tmp_path, 0), 400, ErrorCode.VALIDATION_FAILED),
        ("a file name with a path", {**_body(tmp_path, top + 12), "files": {"../x": "AA=="}}, 400,
         ErrorCode.VALIDATION_FAILED),
        ("an unknown field", _body(tmp_path, top + 13, extra=1), 400, ErrorCode.VALIDATION_FAILED),
    ]  # fmt: skip
    for name, body, status, code in cases:
        reply = admin.post(PATH, json=body)
        assert (reply.status_code, reply.json()["code"]) == (status, code), name
    assert admin.get(PATH).json()["releases"] == before  # nothing was stored

    assert admin.post(PATH, json=_body(tmp_path, top + 20)).status_code == 201
    reply = admin.post(PATH, json=_body(tmp_path, top + 20))
    assert (reply.status_code, reply.json()["code"]) == (409, ErrorCode.RELEASE_EXISTS)
    assert admin.post(f"{PATH}/{top + 20}/rollout", json={"percent": 40}).status_code == 200
    refusals = [
        (39.99, 409, ErrorCode.ROLLOUT_NARROWED),
        (100.5, 400, ErrorCode.VALIDATION_FAILED),
        (-1, 400, ErrorCode.VALIDATION_FAILED),
    ]
    for percent, status, code in refusals:
        reply = admin.post(f"{PATH}/{top + 20}/rollout", json={"percent": percent})
        assert (reply.status_code, reply.json()["code"]) == (status, code), percent
    reply = admin.post(f"{PATH}/{top + 99}/rollout", json={"percent": 1})
    assert (reply.status_code, reply.json()["code"]) == (404, ErrorCode.NOT_FOUND)
    assert [r["rollout_percent"] for r in admin.get(PATH).json()["releases"] if r["release"] == top + 20] == [
        40
    ]


def test_release_files_need_a_device_token(server: LiveServer, tmp_path: Path) -> None:
    admin = server.admin
    top = max((r["release"] for r in admin.get(PATH).json()["releases"]), default=0)
    assert admin.post(PATH, json=_body(tmp_path, top + 1)).status_code == 201
    tokens = server.new_device()
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        url = f"/v1/models/{top + 1}/manifest.json"
        assert http.get(url).status_code == 401
        assert http.get(url, headers={"Authorization": f"Bearer {server.admin_token}"}).status_code == 401
        bearer = {"Authorization": f"Bearer {tokens.access_token}"}
        reply = http.get(url, headers=bearer)
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
        for missing in (f"/v1/models/{top + 1}/nothing.bin", f"/v1/models/{top + 50}/manifest.json"):
            reply = http.get(missing, headers=bearer)
            assert (reply.status_code, reply.json()["code"]) == (404, ErrorCode.NOT_FOUND)
        for out_of_range in (
            "/v1/models/0/manifest.json",
            f"/v1/models/{2**64}/manifest.json",
            f"/v1/models/{top + 1}/%00manifest.json",
            f"/v1/models/{top + 1}/.hidden",
        ):
            reply = http.get(out_of_range, headers=bearer)
            assert (reply.status_code, reply.json()["code"]) == (400, ErrorCode.VALIDATION_FAILED)
