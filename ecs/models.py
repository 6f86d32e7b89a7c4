"""``ecs models``: signed model releases (spec §5.9).

``keygen`` and ``sign`` run offline, where the release key lives: the cloud never holds it. ``publish``
uploads a signed folder, ``rollout`` widens a release to a share of the users, ``list`` shows them,
over the admin API (the ``admin`` role).

A signed folder holds the model's ``manifest.json``, the model files it names, and the
``release.json`` that ``sign`` writes (the release manifest and its signature).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from pathlib import Path
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ecs.operator import AdminClient, Command, OperatorError, Result, table, when
from sync.releases import (
    ManifestSummary,
    ReleaseManifest,
    SignedRelease,
    public_key_text,
    read_summary,
    sha256_hex,
    sign_release,
)

MANIFEST_FILE: Final = "manifest.json"
RELEASE_FILE: Final = "release.json"
PATH: Final = "/v1/admin/model-releases"
COLUMNS: Final = ["release", "model", "features", "rollout", "devices", "published", "by"]


def _manifest(folder: Path) -> tuple[bytes, ManifestSummary]:
    try:
        data = (folder / MANIFEST_FILE).read_bytes()
        return data, read_summary(data)
    except OSError as exc:
        raise OperatorError(f"cannot read {folder / MANIFEST_FILE}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise OperatorError(f"{folder / MANIFEST_FILE} is not a model manifest: {exc}") from None


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise OperatorError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise OperatorError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise OperatorError(f"{path} is not an Ed25519 key")
    return key


def keygen(client: AdminClient, args: argparse.Namespace) -> Result:
    out = Path(args.out)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        # Created owner-only and never over an existing key: losing a release key is unrecoverable.
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OperatorError(f"{out} exists: a release key is never overwritten") from None
    except OSError as exc:
        raise OperatorError(f"cannot create {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public = public_key_text(key)
    shown = table(
        "release key written: keep it offline; pin the public key in the SDK (release_public_key)",
        ["private key file", "public key"],
        [[str(out), public]],
    )
    return {"private_key_file": str(out), "public_key": public}, [shown]


def sign(client: AdminClient, args: argparse.Namespace) -> Result:
    folder = Path(args.folder)
    manifest_bytes, view = _manifest(folder)
    try:
        manifest = ReleaseManifest(
            release=args.release,
            model_version=view.model_version,
            feature_spec_version=view.feature_spec_version,
            sha256=sha256_hex(manifest_bytes),
        )
        manifest = msgspec.convert(msgspec.to_builtins(manifest), ReleaseManifest)  # checks the ranges
    except msgspec.ValidationError as exc:
        raise OperatorError(f"not a valid release: {exc}") from None
    signed = sign_release(_private_key(Path(args.key)), manifest)
    (folder / RELEASE_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(signed), indent=2) + b"\n")
    rows = [[str(manifest.release), manifest.model_version, manifest.feature_spec_version, manifest.sha256]]
    shown = table(
        f"signed: {folder / RELEASE_FILE}", ["release", "model", "features", "manifest SHA-256"], rows
    )
    return msgspec.to_builtins(signed), [shown]


def _release_rows(releases: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [str(r["release"]), r["model_version"], r["feature_spec_version"], f"{r['rollout_percent']:g} %",
         str(r["devices"]), when(r["created_at"]), r["created_by"]]
        for r in releases
    ]  # fmt: skip


def publish(client: AdminClient, args: argparse.Namespace) -> Result:
    folder = Path(args.folder)
    try:
        signed = msgspec.json.decode((folder / RELEASE_FILE).read_bytes(), type=SignedRelease)
    except OSError as exc:
        raise OperatorError(
            f"cannot read {folder / RELEASE_FILE} (run ecs models sign): {exc.strerror}"
        ) from None
    except msgspec.DecodeError as exc:
        raise OperatorError(f"{folder / RELEASE_FILE} is not a signed release: {exc}") from None
    manifest_bytes, view = _manifest(folder)
    files = {MANIFEST_FILE: manifest_bytes}
    for entry in view.files:
        try:
            files[entry.path] = (folder / Path(entry.path).name).read_bytes()
        except OSError as exc:
            raise OperatorError(f"cannot read {entry.path} in {folder}: {exc.strerror}") from None
    body = {
        **json.loads(msgspec.json.encode(signed)),
        "files": {name: base64.b64encode(data).decode("ascii") for name, data in files.items()},
    }
    release = client.call("POST", PATH, body=body)
    return release, [table("release published, rolled out to nobody yet", COLUMNS, _release_rows([release]))]


def rollout(client: AdminClient, args: argparse.Namespace) -> Result:
    release = client.call("POST", f"{PATH}/{args.release}/rollout", body={"percent": args.percent})
    return release, [table("rollout", COLUMNS, _release_rows([release]))]


def releases_list(client: AdminClient, args: argparse.Namespace) -> Result:
    releases = client.call("GET", PATH)["releases"]
    return releases, [
        table(f"{len(releases)} model releases, newest first", COLUMNS, _release_rows(releases))
    ]


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not between 0 and 100")
    return value


def add_model_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """``ecs models ...`` on the root parser's subparsers."""
    help_text = "signed model releases: keygen and sign offline, publish and roll out (the admin role)"
    group = commands.add_parser("models", help=help_text, description=help_text).add_subparsers(
        dest="action", required=True, metavar="<action>"
    )

    def command(name: str, run: Command, help: str, *, offline: bool = False) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name, help=help, description=help, parents=[] if offline else [common]
        )
        sub.set_defaults(run=run, no_token=offline, offline=offline)
        return sub

    sub = command(
        "keygen",
        keygen,
        "a new Ed25519 release key (offline): the private key file, the public key",
        offline=True,
    )
    sub.add_argument("--out", required=True, help="where to write the private key (never overwritten)")
    sub = command(
        "sign", sign, "sign a model folder as a release (offline): writes release.json", offline=True
    )
    sub.add_argument("folder", help="the folder holding manifest.json and the model files")
    sub.add_argument("--key", required=True, help="the release key file (ecs models keygen)")
    sub.add_argument(
        "--release", type=int, required=True, help="the release number: above every published one"
    )
    sub = command("publish", publish, "upload a signed folder: a release rolled out to nobody yet")
    sub.add_argument("folder")
    sub = command("rollout", rollout, "widen a release to a share of the users (it only widens)")
    sub.add_argument("release", type=int)
    sub.add_argument("--percent", type=_percent, required=True, help="0 to 100")
    command("list", releases_list, "every published release, its rollout and the devices running it")
