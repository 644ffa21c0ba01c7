"""Starts the fake (the binary cargo built) on 127.0.0.1, port 0, for each test module."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
TOKEN = "f2m_demo_token"


def _binary():
    explicit = os.environ.get("MOCK_SERVER_BIN")
    if explicit:
        return explicit
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "mock-server")


@pytest.fixture(scope="module")
def api_url():
    proc = subprocess.Popen(
        # A manual clock: tests move time through the control API instead of sleeping.
        [_binary(), "--port", "0", "--fixtures", str(FIXTURES), "--clock", "manual"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on "), f"unexpected first line: {line!r}"
        yield line[len("listening on "):]
    finally:
        proc.kill()
        proc.wait()


def advance(api_url, duration="1h"):
    """Moves the fake's clock; job events that fall due happen at once."""
    import requests

    r = requests.post(api_url + "/__admin/clock", json={"advance": duration})
    r.raise_for_status()
