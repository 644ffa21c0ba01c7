"""docs/ci.md's plain shell variant, run as written: tests/ci/gate.sh (which
the page includes verbatim) against a good client and three broken ones.
The good one passes the gate; each broken one fails it with a JUnit file
naming the request and the rule."""

import os
import pathlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
GATE = ROOT / "tests" / "ci" / "gate.sh"

# bug → (a failed test case's name contains all of these, its message this)
BUGS = {
    "wrong-type": (["POST /flat-2-model → 400", "contract", "instructions[0].num_variations"], "is not of type"),
    "ignore-retry-after": (["POST /flat-2-model → 202", "ignored Retry-After"], "Retry-After"),
    "missing-auth": (["GET /jobs/", "/results → 401", "contract", "Authorization"], "missing"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every variant at once (each gate starts its own fake): bug → (exit code, output, reports dir)."""
    procs = {}
    for bug in ["", *BUGS]:
        reports = tmp_path_factory.mktemp(bug or "good")
        env = dict(
            os.environ,
            MOCK_SERVER=str(TARGET / "mock-server"),
            CONTRACT_TESTS=str(TARGET / "contract-tests"),
            REPORTS=str(reports),
            F2M_BUG=bug,
        )
        client = [os.environ.get("PYTHON", "python3"), "tests/ci/client.py"]
        procs[bug] = (
            subprocess.Popen(
                [str(GATE), *client], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            ),
            reports,
        )
    out = {}
    for bug, (p, reports) in procs.items():
        text, _ = p.communicate(timeout=120)
        out[bug] = (p.returncode, text, reports)
    return out


def failures(reports):
    suite = ET.parse(reports / "client.xml").getroot()
    return {
        case.get("name"): case.find("failure").get("message")
        for case in suite.iter("testcase")
        if case.find("failure") is not None
    }


def test_a_good_client_passes_the_gate(runs):
    code, text, reports = runs[""]
    assert code == 0, text
    assert failures(reports) == {}
    assert "4 passed, 0 failed" in text


@pytest.mark.parametrize("bug", list(BUGS))
def test_a_planted_bug_fails_the_gate_naming_the_request_and_the_rule(runs, bug):
    code, text, reports = runs[bug]
    assert code != 0, text
    parts, rule = BUGS[bug]
    named = [(n, m) for n, m in failures(reports).items() if all(p in n for p in parts)]
    assert named, f"no failed case names {parts}: {list(failures(reports))}"
    assert rule in named[0][1], named
    har = (reports / "client.har").read_text()
    assert '"_violations"' in har and "f2m_demo_token" not in har


def test_the_page_shows_the_script_that_runs():
    page = (ROOT / "docs" / "ci.md").read_text()
    assert GATE.read_text() in page, "docs/ci.md must include tests/ci/gate.sh verbatim"
    assert (ROOT / "tests" / "ci" / "expect.json").read_text() in page
