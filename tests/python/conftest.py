"""Starts the fake (the binary cargo built) on 127.0.0.1, port 0, for each test module."""

import contextlib
import hashlib
import os
import pathlib
import subprocess
import urllib.parse

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


def _start(argv):
    """Starts a process that prints `listening on URL` first; returns (process, URL)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise AssertionError(f"unexpected first line: {line!r}")
    return proc, line[len("listening on "):]


def _fake():
    # A manual clock: tests move time through the control API instead of sleeping.
    return _start([_binary(), "--port", "0", "--fixtures", str(FIXTURES), "--clock", "manual"])


@pytest.fixture(scope="module")
def api_url():
    """The fake; with F2M_THROUGH_PROXY=1, `contract-tests proxy` in front of
    it (a second fake beside, asked the same questions), and at the end no
    drift and every body the client read byte for byte the one the fake sent."""
    procs = []
    try:
        proc, url = _fake()
        procs.append(proc)
        if not os.environ.get("F2M_THROUGH_PROXY"):
            yield url
            return
        beside, beside_url = _fake()
        procs.append(beside)
        proxy, proxy_url = _start([
            str(pathlib.Path(_binary()).with_name("contract-tests")), "proxy",
            "--upstream", url, "--listen", "127.0.0.1:0", "--compare", beside_url,
        ])
        procs.append(proxy)
        received = []
        with _recording(received):
            yield proxy_url
        _assert_faithful(proxy_url, received)
    finally:
        for p in procs:
            p.kill()
            p.wait()


@contextlib.contextmanager
def _recording(received):
    """Records the SHA-256 of every body the client reads whole."""
    import requests

    send = requests.Session.send

    def recording_send(self, request, **kwargs):
        r = send(self, request, **kwargs)
        if not kwargs.get("stream"):
            path = urllib.parse.urlsplit(request.url).path
            received.append((request.method, path, hashlib.sha256(r.content).hexdigest()))
        return r

    requests.Session.send = recording_send
    try:
        yield
    finally:
        requests.Session.send = send


def _assert_faithful(proxy_url, received):
    import requests

    report = requests.get(proxy_url + "/__proxy/report?format=json").json()
    assert report["total"] == 0, report
    assert report["compared"] > 0, report
    # What passed the proxy, hashed on the upstream's side of it.
    sent = [
        (e["request"]["method"], urllib.parse.urlsplit(e["request"]["url"]).path,
         e["response"]["content"].get("comment") or "0 bytes")
        for e in requests.get(proxy_url + "/__proxy/cassette").json()["log"]["entries"]
    ]
    proxied = [r for r in received if r[1] and not r[1].startswith("/__proxy/")]
    compared = 0
    for method, path, digest in proxied:
        matches = [s for s in sent if s[0] == method and s[1] == path]
        if not matches:
            continue  # a link of the fake's own storage, not through the proxy
        first = matches[0]
        sent.remove(first)
        assert first[2].endswith(digest) or (first[2] == "0 bytes" and digest == hashlib.sha256(b"").hexdigest()), (
            method, path, first[2], digest)
        compared += 1
    assert compared >= 5, (compared, received)


def advance(api_url, duration="1h"):
    """Moves the fake's clock; job events that fall due happen at once."""
    import requests

    r = requests.post(api_url + "/__admin/clock", json={"advance": duration})
    r.raise_for_status()
