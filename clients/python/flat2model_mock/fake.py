"""A fake to talk to (started here or already running) and its tenants."""

import contextlib
import hashlib
import os
import shutil
import subprocess

import requests


def caller_of(token):
    """The journal's name for the caller holding ``token``: the first 12 hex
    digits of its SHA-256 (the token itself is never recorded)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class Fake:
    """A running fake at ``base_url``; ``admin_token`` if it has one."""

    def __init__(self, base_url, admin_token=None, process=None):
        self.base_url = base_url.rstrip("/")
        self._admin = {"Authorization": "Bearer " + admin_token} if admin_token else {}
        self._process = process

    def admin(self, method, path, body=None, query=None):
        """A control API call (``/__admin``…); its JSON answer. Fails with the
        fake's error body on a non-2xx answer."""
        r = requests.request(
            method, self.base_url + path, json=body, params=query, headers=self._admin, timeout=30
        )
        if not r.ok:
            raise AssertionError(f"{method} {path}: {r.status_code} {r.text}")
        return r.json()

    def new_tenant(self, **settings):
        """A fresh tenant with a token of its own (``job_rate_limit=0``: no
        rate limit; ``scenario="…"``)."""
        t = self.admin("POST", "/__admin/tenants", settings)
        return Tenant(self, t["token"], t["account"])

    def close(self):
        """Stops the fake if this process started it."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def start(binary=None, args=()):
    """Starts the fake's binary on 127.0.0.1, a free port, jobs instant
    (``--time-scale 0``); ``binary``: a path, else ``F2M_MOCK_SERVER``, else
    ``mock-server`` on PATH."""
    binary = binary or os.environ.get("F2M_MOCK_SERVER") or shutil.which("mock-server")
    if not binary:
        raise RuntimeError("no mock-server: set F2M_MOCK_SERVER or F2M_BASE_URL, or put it on PATH")
    process = subprocess.Popen(
        [binary, "--port", "0", "--time-scale", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = process.stdout.readline().strip()
    if not line.startswith("listening on "):
        process.kill()
        raise RuntimeError(f"the fake did not start: {line!r}")
    return Fake(line[len("listening on ") :], process=process)


class Clock:
    """The fake's clock. It is the whole fake's: on a fake shared with
    other processes, moving it moves theirs too."""

    def __init__(self, fake):
        self._fake = fake

    def advance(self, duration):
        """Moves the clock forward (``"15m"``, ``"1h 30m"``, or seconds);
        what falls due happens at once."""
        return self._fake.admin("POST", "/__admin/clock", {"advance": duration})

    def now(self):
        """The fake's time, RFC 3339."""
        return self._fake.admin("GET", "/__admin/clock")["now"]


class Journal:
    """What one tenant's token sent, as the fake recorded it."""

    def __init__(self, fake, caller):
        self._fake = fake
        self._caller = caller

    def requests(self, **filters):
        """The recorded requests (filters: method, path — ``/jobs/{id}/status``
        works —, status, violations, ignored_retry_after, after)."""
        query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
        query["caller"] = self._caller
        return self._fake.admin("GET", "/__admin/journal", query=query)["requests"]

    def flagged(self):
        """The requests that broke the contract or ignored a Retry-After."""
        return [r for r in self.requests() if r["violations"] or r["ignored_retry_after"]]

    def assert_clean(self):
        """Fails, naming each request, rule and field, if any request broke
        the contract or ignored a Retry-After."""
        lines = []
        for r in self.flagged():
            name = f"#{r['seq']} {r['method']} {r['path']} → {r['status']}"
            for v in r["violations"]:
                lines.append(f"{name}: {v}")
            if r["ignored_retry_after"]:
                lines.append(f"{name}: sent before the Retry-After of an earlier 429 had passed")
            body = (r.get("request_body") or {}).get("text")
            if body:
                lines.append(f"    request body: {body[:500]}")
        if lines:
            raise AssertionError("the client broke the contract:\n" + "\n".join(lines))

    def assert_sent(self, method, path, at_least=1):
        """Fails unless at least ``at_least`` requests ``method path`` were sent."""
        n = len(self.requests(method=method, path=path))
        assert n >= at_least, f"expected at least {at_least} {method} {path}, the client sent {n}"

    def har(self, path, all=False):
        """Writes the flagged requests (``all``: every one) as a HAR file."""
        query = {"caller": self._caller}
        if not all:
            query["violations"] = "true"
        r = requests.get(self._fake.base_url + "/__admin/journal.har", params=query, headers=self._fake._admin)
        r.raise_for_status()
        with open(path, "w") as f:
            f.write(r.text)


class Tenant:
    """One tenant of a fake: a token nobody else uses, its settings, its
    journal, its reset."""

    def __init__(self, fake, token, account):
        self.fake = fake
        self.token = token
        self.account = account
        self.caller = caller_of(token)
        self.clock = Clock(fake)
        self.journal = Journal(fake, self.caller)

    @property
    def base_url(self):
        """The fake's base URL: the client's ``api_url``."""
        return self.fake.base_url

    @property
    def headers(self):
        """``{"Authorization": "Bearer <token>"}``."""
        return {"Authorization": "Bearer " + self.token}

    def settings(self, **changes):
        """Changes this tenant's settings (``job_rate_limit``, ``scenario``;
        ``None`` goes back to the default); the settings afterwards."""
        return self.fake.admin("PATCH", f"/__admin/tenants/{self.account}", changes)

    @contextlib.contextmanager
    def scenario(self, name):
        """Runs the block under scenario ``name`` (for this tenant alone)."""
        before = self.fake.admin("GET", f"/__admin/tenants/{self.account}")["scenario"]
        self.settings(scenario=name)
        try:
            yield self
        finally:
            self.settings(scenario=before)

    def reset(self):
        """Forgets this tenant's data, journal and settings; the token stays."""
        return self.fake.admin("POST", "/__admin/reset", {"token": self.token})
