"""The dashboard (/__admin/ui) in a real browser: Debian's chromium, headless,
driven through chromium-driver by selenium. Loads each page, watches a job
appear and complete while its page stays open (the clock moved through the
control API, the page updated by its EventSource without a reload),
switches a scenario and presses Redeliver with clicks, and reads each result
back through the control API.

F2M_SCREENSHOTS=1 also writes a PNG of each page into docs/img/ (docs/qa.md
shows them)."""

import http.server
import os
import pathlib
import shutil
import subprocess
import threading

import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
TOKEN = "f2m_demo_token"
AUTH = {"Authorization": "Bearer " + TOKEN}
SHOTS = ROOT / "docs" / "img"
# Waits are for the browser (a page load, a live refresh): bounded, never
# for the fake's jobs, which move only when the test moves the clock.
WAIT = 15


def _binary():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "mock-server")


@pytest.fixture(scope="module")
def fake():
    proc = subprocess.Popen(
        [_binary(), "--port", "0", "--fixtures", str(FIXTURES), "--clock", "manual", "--journal-bodies", "all"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline().strip()
    try:
        assert line.startswith("listening on "), line
        yield line[len("listening on "):]
    finally:
        proc.kill()
        proc.wait()


class _Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        self.received.append(self.headers.get("x-webhook-event"))
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d/hook" % server.server_address[1]
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1000,760"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def shot(browser, name):
    if os.environ.get("F2M_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / ("dashboard-%s.png" % name)))


def control(fake, method, path, **kw):
    r = requests.request(method, fake + path, timeout=10, **kw)
    r.raise_for_status()
    return r.json()


def start_job(fake):
    with open(FIXTURES / "images" / "identity.jpg", "rb") as f:
        r = requests.post(fake + "/identity/upload", headers=AUTH, files={"image": f}, data={"name": "Browser model"})
    identity = r.json().get("identity_code") or r.json()["existing_identity_code"]
    project = requests.post(fake + "/project", headers=AUTH, json={"project_name": "browser"}).json()
    up = requests.post(fake + "/upload", headers=AUTH, json={"project_name": "browser", "filename": "sku-shirt.jpg"}).json()
    requests.put(up["upload_url"], headers={"Content-Type": up["content_type"]},
                 data=(FIXTURES / "images" / "sku-shirt.jpg").read_bytes()).raise_for_status()
    r = requests.post(fake + "/flat-2-model", headers=AUTH, json={
        "identity_code": identity, "project_id": project["project_id"], "images": [up["file_id"]],
        "instructions": [{}, {}],
    })
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def until(browser, check):
    """Waits until check(browser) is true. A page's live region is redrawn
    (innerHTML) on every change and a form POST loads a new page, so an
    element found a moment ago may be stale when it is read or clicked:
    such a check is tried again, never read from a stale element."""
    return WebDriverWait(browser, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(check)


def wait_for(browser, css):
    return until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, css))


def wait_for_text(browser, css, text):
    until(browser, lambda d: any(e.text == text for e in d.find_elements(By.CSS_SELECTOR, css)))


def click(browser, by, what):
    until(browser, lambda d: d.find_element(by, what).click() or True)


def test_every_page_loads(fake, browser):
    for path, title in [("", "Jobs"), ("/notifications", "Notifications"), ("/deliveries", "Webhook deliveries"),
                        ("/journal", "Journal"), ("/scenarios", "Scenarios"), ("/clock", "Clock")]:
        browser.get(fake + "/__admin/ui" + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == title
        # The stylesheet came from the binary and applies.
        header = browser.find_element(By.TAG_NAME, "header")
        assert header.value_of_css_property("display") == "flex"


def test_a_job_appears_and_completes_live(fake, browser, receiver):
    control(fake, "PUT", "/webhooks", headers=AUTH, json={"url": receiver})
    browser.get(fake + "/__admin/ui")
    assert browser.find_elements(By.ID, "no-jobs")
    # The page stays open: no reload from here on, the EventSource updates it.
    browser.execute_script("window.__sameDocument = true")
    job = start_job(fake)
    wait_for(browser, "tr[data-job='%s'][data-status='pending']" % job)
    control(fake, "POST", "/__admin/clock", json={"advance": "1h"})
    wait_for(browser, "tr[data-job='%s'][data-status='completed']" % job)
    # Two thumbnails, each a picture the browser decoded (counted in one
    # script: the region may be redrawn between two reads).
    decoded = "return Array.from(document.querySelectorAll(arguments[0])).filter(t => t.complete && t.naturalWidth > 0).length"
    until(browser, lambda d: d.execute_script(decoded, "tr[data-job='%s'] img.thumb" % job) == 2)
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr[data-job='%s'] img.thumb" % job)) == 2
    assert browser.execute_script("return window.__sameDocument") is True
    assert control(fake, "GET", "/__admin/jobs/" + job)["status"]["status"] == "completed"
    shot(browser, "jobs")

    click(browser, By.LINK_TEXT, job)
    wait_for_text(browser, "#job-status", "completed")
    dots = browser.find_elements(By.CSS_SELECTOR, "#timeline g.event.applied")
    assert len(dots) == len(control(fake, "GET", "/__admin/jobs/" + job)["schedule"]["events"])
    shot(browser, "job")


def test_a_scenario_switch_is_one_click(fake, browser):
    browser.get(fake + "/__admin/ui/scenarios")
    click(browser, By.CSS_SELECTOR, "tr[data-scope='global'] button[value='webhook-outage']")
    wait_for_text(browser, "tr[data-scope='global'] td.current", "webhook-outage")
    assert browser.current_url.endswith("/__admin/ui/scenarios")
    assert control(fake, "GET", "/__admin/scenarios")["global"] == "webhook-outage"
    shot(browser, "scenarios")
    click(browser, By.CSS_SELECTOR, "tr[data-scope='global'] button[value='']")
    wait_for_text(browser, "tr[data-scope='global'] td.current", "none")
    assert control(fake, "GET", "/__admin/scenarios")["global"] is None


def test_redeliver_sends_a_delivery_again(fake, browser):
    deliveries = control(fake, "GET", "/__admin/webhooks/deliveries")["deliveries"]
    delivered = [d for d in deliveries if d["status"] == "delivered"]
    assert delivered, deliveries
    target = delivered[-1]
    browser.get(fake + "/__admin/ui/deliveries")
    row = "tr[data-delivery='%d']" % target["id"]
    wait_for(browser, row + "[data-attempts='%d']" % len(target["attempts"]))
    click(browser, By.CSS_SELECTOR, row + " button")
    # Back on the list; the attempt runs on a real socket, and the open page
    # shows it when it lands.
    wait_for(browser, row + "[data-attempts='%d'][data-status='delivered']" % (len(target["attempts"]) + 1))
    again = [d for d in control(fake, "GET", "/__admin/webhooks/deliveries")["deliveries"] if d["id"] == target["id"]][0]
    assert len(again["attempts"]) == len(target["attempts"]) + 1
    shot(browser, "deliveries")


def test_the_journal_and_the_clock(fake, browser):
    requests.get(fake + "/project", timeout=10)  # no token: a contract violation
    browser.get(fake + "/__admin/ui/journal")
    assert browser.find_elements(By.CSS_SELECTOR, "tr.violation")
    shot(browser, "journal")
    browser.get(fake + "/__admin/ui/clock")
    before = control(fake, "GET", "/__admin/clock")["now_ms"]
    click(browser, By.ID, "advance")
    # The form's POST lands when it lands: wait for the move, then check it
    # was exactly the button's 15 minutes.
    until(browser, lambda d: control(fake, "GET", "/__admin/clock")["now_ms"] != before)
    assert control(fake, "GET", "/__admin/clock")["now_ms"] - before == 15 * 60 * 1000
    wait_for(browser, "#now")
    click(browser, By.ID, "drain")
    assert browser.current_url.endswith("/__admin/ui/clock")
    shot(browser, "clock")
