#!/usr/bin/env python3
"""Two fakes behind HAProxy serve one client (make scale-test; docs/scaling.md).

Usage: run.py MOCK_SERVER_BINARY HAPROXY_BINARY

Standard library only. Starts two instances (seeds 1 and 2, each with its
own --public-url: the proxy's address and a path prefix, /i1 or /i2) and
HAProxy in front: API calls are routed by a hash of the Authorization header
(a tenant always reaches the same instance), and the signed links, which
carry no Authorization, by their prefix. A client with several tokens
(--any-token tenants) then runs, through the proxy only: a project, a
pre-signed upload, a job to its end and its results, for every token, and
an output image downloaded from each instance. Checks that every call
succeeded, every link carries its instance's prefix, and both instances
served tenants. Exits non-zero on a failure.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKENS = [f"scale_token_{i}" for i in range(8)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, token=None, content_type="application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            ctype = r.headers.get_content_type()
            return r.status, (json.loads(raw) if ctype == "application/json" else raw)
    except urllib.error.HTTPError as e:
        sys.exit(f"scale-test: {method} {url} answered {e.code}: {e.read()[:500]!r}")


def wait_for(url, within=30.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"scale-test: {url} did not answer within {within:.0f} s")


def main():
    binary, haproxy = sys.argv[1], sys.argv[2]
    proxy_port = free_port()
    proxy = f"http://127.0.0.1:{proxy_port}"
    procs = []
    instances = []
    try:
        for i in (1, 2):
            port = free_port()
            procs.append(subprocess.Popen(
                [binary, "--port", str(port), "--seed", str(i), "--any-token",
                 "--time-scale", "0", "--job-rate-limit", "0",
                 "--public-url", f"{proxy}/i{i}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            instances.append(port)
        cfg = os.path.join(REPO, "target", "scale-test-haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(f"""# Written by tests/scaling/run.py (see docs/scaling.md).
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend mock
    bind 127.0.0.1:{proxy_port}
    # Signed links carry their instance's prefix (its --public-url).
    acl to_i1 path_beg /i1/
    acl to_i2 path_beg /i2/
    use_backend i1 if to_i1
    use_backend i2 if to_i2
    default_backend by_token

backend by_token
    # A tenant is its token: the same token always reaches the same instance.
    balance hdr(Authorization)
    hash-type consistent
    server i1 127.0.0.1:{instances[0]}
    server i2 127.0.0.1:{instances[1]}

backend i1
    http-request replace-path /i1(/.*) \\1
    server i1 127.0.0.1:{instances[0]}

backend i2
    http-request replace-path /i2(/.*) \\1
    server i2 127.0.0.1:{instances[1]}
""")
        procs.append(subprocess.Popen([haproxy, "-f", cfg, "-db"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for port in instances:
            wait_for(f"http://127.0.0.1:{port}/__admin/health")
        wait_for(f"{proxy}/i1/__admin/health")

        with open(os.path.join(REPO, "fixtures/images/sku-shirt.jpg"), "rb") as f:
            shirt = f.read()
        downloaded = set()
        for token in TOKENS:
            status, _ = call("POST", f"{proxy}/project", {"project_name": "scale"}, token)
            assert status == 201, status
            _, up = call("POST", f"{proxy}/upload", {"project_name": "scale", "filename": "sku-shirt.jpg"}, token)
            assert up["upload_url"].startswith(f"{proxy}/i"), up["upload_url"]
            status, _ = call("PUT", up["upload_url"], shirt, content_type=up["content_type"])
            assert status == 200, status
            status, job = call("POST", f"{proxy}/flat-2-model", {
                "identity_code": "PiktidPremium",
                "project_id": up["project_id"],
                "images": [up["file_id"]],
                "instructions": [{}],
            }, token)
            assert status == 202, (status, job)
            end = time.monotonic() + 30
            while call("GET", f"{proxy}/jobs/{job['job_id']}/status", token=token)[1]["status"] != "completed":
                assert time.monotonic() < end, "job did not complete within 30 s"
                time.sleep(0.1)
            _, results = call("GET", f"{proxy}/jobs/{job['job_id']}/results", token=token)
            full_size = results["results"][0]["output"]["full_size"]
            assert full_size.startswith(up["upload_url"][:len(proxy) + 4]), (full_size, up["upload_url"])
            # One output image per instance: a debug build takes a second or
            # two to render one, and the route is the same for every token.
            prefix = full_size[len(proxy):len(proxy) + 4]
            if prefix not in downloaded:
                status, out = call("GET", full_size)
                assert status == 200 and len(out) > 1000, (status, len(out))
                downloaded.add(prefix)
        tenants = []
        for port in instances:
            _, health = call("GET", f"http://127.0.0.1:{port}/__admin/health")
            tenants.append(health["tenants"])
        # Each instance also holds the fixture accounts (2).
        assert all(t > 2 for t in tenants), f"both instances serve tenants: {tenants}"
        assert downloaded == {"/i1/", "/i2/"}, downloaded
        print(f"scale-test: {len(TOKENS)} tenants through HAProxy, all calls succeeded; "
              f"tenants per instance (fixture accounts included): {tenants}")
    finally:
        # Killed, not stopped: a graceful stop would wait out HAProxy's idle
        # keep-alive connections (--shutdown-grace), and nothing here is kept.
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


if __name__ == "__main__":
    main()
