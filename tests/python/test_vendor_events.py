"""The documentation's "Tracking progress" examples against the fake: the SSE
loop and the Flask webhook receiver, unchanged but for `api_url`, the token,
`job_id` and the receiver's address (a free port instead of 8000)."""

import hashlib
import hmac
import threading
import time

import requests
from flask import Flask, abort, request
from werkzeug.serving import make_server

from conftest import FIXTURES, TOKEN, advance


def make_job(api_url):
    headers = {"Authorization": "Bearer " + TOKEN}
    with open(FIXTURES / "images" / "identity.jpg", "rb") as f:
        r = requests.post(api_url + "/identity/upload", headers=headers, files={"image": f})
    identity_code = r.json().get("identity_code") or r.json()["existing_identity_code"]
    r = requests.post(api_url + "/project", headers=headers, json={"project_name": "events"})
    project_id = r.json()["project_id"]
    up = requests.post(api_url + "/upload", headers=headers, json={"filename": "sku-shirt.jpg"}).json()
    requests.put(up["upload_url"], headers={"Content-Type": up["content_type"]},
                 data=(FIXTURES / "images" / "sku-shirt.jpg").read_bytes()).raise_for_status()
    r = requests.post(api_url + "/flat-2-model", headers=headers, json={
        "identity_code": identity_code, "project_id": project_id, "images": [up["file_id"]],
        "instructions": [{"pose": "standing"}, {"pose": "walking"}],
    })
    assert r.status_code == 202
    return r.json()["job_id"]


def test_the_sse_loop_stops_at_the_terminal_status(api_url):
    access_token = TOKEN
    job_id = make_job(api_url)
    outcome = {}

    def documentation_loop():
        import json

        headers = {"Authorization": "Bearer " + access_token}

        with requests.get(
            api_url + "/notifications/events",
            headers=headers,
            stream=True,
            timeout=600,
        ) as response:
            response.raise_for_status()

            for raw_line in response.iter_lines(decode_unicode=True):
                if not raw_line or raw_line.startswith(":"):
                    continue
                if not raw_line.startswith("data: "):
                    continue

                notification = json.loads(raw_line[6:])
                data = notification.get("data", {})
                task_id = data.get("id_task") or data.get("job_id")
                if task_id != job_id:
                    continue

                print(f"Notification: {notification['name']}")
                print(f"Data: {data}")

                if notification["name"] == "batch_edit":
                    status = data.get("status")
                    if status == "completed":
                        print("Job completed!")
                        outcome["status"] = "completed"
                        break
                    if status == "failed":
                        raise RuntimeError(data.get("error_message", "Job failed"))

    loop = threading.Thread(target=documentation_loop, daemon=True)
    loop.start()
    # The job finishes within the backfill window, so the loop sees the end
    # whether it connected before or after the clock moved.
    advance(api_url, "2m")
    loop.join(timeout=30)
    assert not loop.is_alive(), "the loop did not stop"
    assert outcome == {"status": "completed"}


def test_the_flask_receiver_verifies_and_sees_completion(api_url):
    access_token = TOKEN
    seen = []
    app = Flask(__name__)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    public_webhook_url = f"http://127.0.0.1:{server.server_port}/webhooks/piktid"
    job_id = make_job(api_url)

    setup = requests.put(
        api_url + "/webhooks",
        headers={"Authorization": "Bearer " + access_token},
        json={"url": public_webhook_url},
    ).json()
    webhook_secret = setup["secret"]

    def verify_signature(secret: str, body: bytes, signature_header: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature_header)

    @app.post("/webhooks/piktid")
    def handle_piktid_webhook():
        body = request.get_data()
        signature = request.headers.get("X-Webhook-Signature", "")
        if not verify_signature(webhook_secret, body, signature):
            seen.append("bad signature")
            abort(401)

        notification = request.get_json()
        data = notification.get("data", {})
        task_id = data.get("id_task") or data.get("job_id")
        if task_id != job_id:
            return "", 204

        if notification["name"] == "batch_edit":
            status = data.get("status")
            if status == "completed":
                print("Job completed!")
                seen.append("completed")
            elif status == "failed":
                print(f"Error: {data.get('error_message')}")
                seen.append("failed")

        return "", 204

    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        advance(api_url, "1h")
        deadline = time.monotonic() + 30
        while "completed" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for HTTP deliveries, not for the job: the clock already moved
    finally:
        server.shutdown()
    assert seen == ["completed"], seen
