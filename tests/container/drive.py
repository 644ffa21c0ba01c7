#!/usr/bin/env python3
"""Runs the fake's container image and drives a job through it (make image-test).

Usage: drive.py ENGINE IMAGE [RUN_OPTION ...]

Standard library only. A webhook receiver listens on 127.0.0.1 (port 0);
the container shares the host's network and knows the receiver as
f2m-receiver.test through its /etc/hosts (--add-host) only. Its
/etc/nsswitch.conf names a hosts service that does not exist, so the C
library's resolver (static glibc reads /etc/hosts itself when NSS is left
at its defaults) finds nothing: a delivery proves the fake resolves names
in Rust (hickory), without NSS.
Checks: the image's user, size and health check; a project, a pre-signed
upload, a job on a gallery identity to its end, an output downloaded, the
webhook's ping and the job's event delivered. Exits non-zero on a failure.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

# The image is one static binary, stripped (docs/container.md): about 30 MB
# from the debug build this test links. Far above that, something
# unexpected got in.
MAX_IMAGE_BYTES = 48 * 1024 * 1024
TOKEN = "f2m_demo_token"
RECEIVER_HOST = "f2m-receiver.test"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

received = []


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method, url, body=None, content_type="application/json", auth=True):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", content_type)
    if auth:
        req.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return r.status, (json.loads(raw) if raw and r.headers.get_content_type() == "application/json" else raw)


def until(what, check, within=30.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    sys.exit(f"image-test: no {what} within {within:.0f} s")


def engine(*args, check=True):
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def main():
    eng, image, run_opts = sys.argv[1], sys.argv[2], sys.argv[3:]
    size = int(engine(eng, "image", "inspect", "--format", "{{.Size}}", image).stdout.strip())
    print(f"image-test: {image} is {size / 1e6:.1f} MB ({size} bytes)")
    assert size < MAX_IMAGE_BYTES, f"image of {size} bytes, limit {MAX_IMAGE_BYTES}"
    user = engine(eng, "image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user and not user.startswith("0") and user.split(":")[0].isdigit(), f"user {user!r}"

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://{RECEIVER_HOST}:{server.server_address[1]}/hook"

    # glibc would look the name up with libnss_f2m-none.so.2, which is nowhere.
    nsswitch = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")),
                            "image-test-nsswitch.conf")
    with open(nsswitch, "w") as f:
        f.write("hosts: f2m-none\n")

    port = free_port()
    name = f"f2m-image-test-{os.getpid()}"
    base = f"http://127.0.0.1:{port}"
    engine(eng, *run_opts, "run", "-d", "--rm", "--name", name, "--network=host",
           "--add-host", f"{RECEIVER_HOST}:127.0.0.1", "-v", f"{nsswitch}:/etc/nsswitch.conf:ro",
           "-e", f"MOCK_PORT={port}", "-e", "MOCK_TIME_SCALE=0", "-e", "MOCK_JOB_RATE_LIMIT=0", image)
    try:
        # The health subcommand inside the container, as HEALTHCHECK runs it.
        until("healthy container", lambda: engine(eng, *run_opts, "exec", name, "/mock-server", "health",
                                                  check=False).returncode == 0)
        if eng.endswith("podman"):
            r = engine(eng, *run_opts, "healthcheck", "run", name, check=False)
            assert r.returncode == 0, f"podman healthcheck run: {r.stdout} {r.stderr}"

        status, _ = call("PUT", f"{base}/webhooks", {"url": hook})
        assert status == 200, status
        until("webhook ping", lambda: received)

        call("POST", f"{base}/project", {"project_name": "container"})
        _, up = call("POST", f"{base}/upload", {"project_name": "container", "filename": "sku-shirt.jpg"})
        with open(os.path.join(REPO, "fixtures/images/sku-shirt.jpg"), "rb") as f:
            shirt = f.read()
        status, _ = call("PUT", up["upload_url"], shirt, content_type=up["content_type"], auth=False)
        assert status == 200, status
        status, job = call("POST", f"{base}/flat-2-model", {
            "identity_code": "PiktidPremium",
            "project_id": up["project_id"],
            "images": [up["file_id"]],
            "instructions": [{}],
        })
        assert status == 202, (status, job)
        job_id = job["job_id"]
        until("completed job", lambda: call("GET", f"{base}/jobs/{job_id}/status")[1]["status"] == "completed")
        _, results = call("GET", f"{base}/jobs/{job_id}/results")
        url = results["results"][0]["output"]["full_size"]
        status, image_bytes = call("GET", url, auth=False)
        assert status == 200 and len(image_bytes) > 1000, (status, len(image_bytes))
        until("webhook event of the job", lambda: any(job_id in json.dumps(e) for e in received))
        print(f"image-test: a job ran through the container; {len(received)} webhook deliveries "
              f"reached {RECEIVER_HOST} (its /etc/hosts); output {len(image_bytes)} bytes")
    except BaseException:
        print(engine(eng, *run_opts, "logs", name, check=False).stderr[-4000:], file=sys.stderr)
        raise
    finally:
        engine(eng, *run_opts, "rm", "-f", name, check=False)
        server.shutdown()


if __name__ == "__main__":
    main()
