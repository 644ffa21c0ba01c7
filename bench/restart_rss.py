#!/usr/bin/env python3
"""RSS of a `--data-dir` fake right after a restart, with many uploads stored.

Starts BINARY on a fresh data dir, uploads --files files of --size bytes
(POST /upload, then the pre-signed PUT), stops it with SIGTERM, starts it
again on the same data dir and prints its RSS once it answers, then again
after every file was read back (and checked) once.

    python3 bench/restart_rss.py target/debug/mock-server --files 2000

Standard library only; Linux (/proc). Not part of `make test`: the figures
are in docs/persistence.md.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

TOKEN = "restart-rss"


def start(binary, data_dir):
    p = subprocess.Popen(
        [binary, "--port", "0", "--any-token", "--data-dir", data_dir],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in p.stdout:
        if line.startswith("listening on "):
            return p, line.split(" ", 2)[2].strip()
    raise SystemExit(f"{binary} did not start (exit {p.wait()})")


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.read()


def upload(base, i, size):
    body = json.dumps({"filename": f"f{i}.jpg"}).encode()
    r = json.loads(
        call("POST", f"{base}/upload", body, {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    )
    data = i.to_bytes(4, "big") + os.urandom(size - 4)
    call("PUT", r["upload_url"], data, {"Content-Type": r["content_type"]})
    return r["download_url"], data


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=100_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="restart-rss-") as d:
        p, base = start(a.binary, d)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            files = list(pool.map(lambda i: upload(base, i, a.size), range(a.files)))
        print(f"before the restart: {rss_mb(p.pid):.0f} MB with {a.files} files of {a.size} bytes")
        stop(p)
        size = os.path.getsize(os.path.join(d, "flat2model.redb"))
        p, new_base = start(a.binary, d)
        time.sleep(1)
        print(f"right after the restart: {rss_mb(p.pid):.0f} MB (database file {size / 2**20:.0f} MB)")
        for url, data in files:
            got = call("GET", url.replace(base, new_base, 1))
            assert got == data, url
        print(f"after reading every file back once: {rss_mb(p.pid):.0f} MB")
        stop(p)


if __name__ == "__main__":
    main()
