"""The reverse-proxy example of the docs (``docs/examples/nginx-tls.conf``) run as it is in a real
nginx, with only ports and certificate paths replaced: TLS ends at nginx, and the API's rate limits
count each client's own address, whatever ``X-Forwarded-For`` the client sends."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cloud.embedded_redis import free_port
from sync.codes import ErrorCode
from tests.support.live_server import LiveServer, sync_body

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "nginx-tls.conf"


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        raise RuntimeError("nginx is missing: `make system-packages` installs it")
    return found


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _site(api_port: int, port: int, cert: Path, key: Path) -> str:
    text = EXAMPLE.read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{api_port};",
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "/etc/ssl/certs/api.example.com.pem": str(cert),
        "/etc/ssl/private/api.example.com.key": str(key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"the example no longer says {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def proxied(tmp_path: Path, redis_url: str) -> Iterator[tuple[LiveServer, str, Path]]:
    env = {"TRUSTED_PROXIES": "127.0.0.1", "RATE_LIMIT_REFRESH": "2/minute"}
    with LiveServer(tmp_path / "api", redis_url, env=env) as server:
        folder = tmp_path / "nginx"
        folder.mkdir()
        cert, key = _self_signed(folder)
        port = free_port()
        (folder / "site.conf").write_text(_site(server.port, port, cert, key))
        # The host's part of nginx.conf: everything under the test's folder, in the foreground.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log;\n"
            f"events {{}}\nhttp {{\n  access_log off;\n  client_body_temp_path {folder}/body;\n"
            f"  proxy_temp_path {folder}/proxy;\n  include {folder}/site.conf;\n}}\n"
        )
        nginx = subprocess.Popen(
            [_nginx(), "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                    assert nginx.poll() is None and time.monotonic() < deadline, f"nginx did not start: {log}"
                    time.sleep(0.05)
            yield server, f"https://127.0.0.1:{port}", cert
        finally:
            nginx.terminate()
            nginx.wait(10)


def _client(address: str, cert: Path) -> httpx.Client:
    # Each client connects from an address of its own (all of 127.0.0.0/8 is this machine).
    transport = httpx.HTTPTransport(local_address=address, verify=ssl.create_default_context(cafile=cert))
    return httpx.Client(transport=transport, timeout=10.0)


def test_the_example_proxy_terminates_tls_and_limits_count_each_client(
    proxied: tuple[LiveServer, str, Path],
) -> None:
    server, url, cert = proxied
    tokens = server.new_device()
    with _client("127.0.0.2", cert) as first, _client("127.0.0.3", cert) as second:
        synced = first.post(
            url + "/v1/sync",
            content=sync_body(tokens.device_id, ()),
            headers={"content-type": "application/msgpack", "authorization": f"Bearer {tokens.access_token}"},
        )
        assert synced.status_code == 200, synced.text
        assert synced.http_version == "HTTP/1.1" and synced.url.scheme == "https"

        def refresh(client: httpx.Client, **headers: str) -> httpx.Response:
            return client.post(url + "/v1/devices/token", json={}, headers=headers)

        assert [refresh(first).status_code for _ in range(2)] == [400, 400]
        limited = refresh(first)
        assert limited.status_code == 429
        assert limited.json()["code"] == ErrorCode.RATE_LIMITED and int(limited.headers["retry-after"]) >= 1
        # A forged header does not buy a new budget: nginx replaces it with the address it saw.
        assert refresh(first, **{"x-forwarded-for": "198.51.100.9"}).status_code == 429
        # Another client behind the same proxy has a budget of its own.
        assert refresh(second).status_code == 400
