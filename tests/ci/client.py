"""A client of the flat-lay-on-model API, written as the vendor's Python
examples are (requests, `api_url`, a bearer token), for the CI example of
docs/ci.md: the gate runs it against the fake and judges what it sent.

`F2M_BASE_URL` and `F2M_TOKEN` say where and who; `F2M_BUG` plants one bug,
for the gate to catch: `wrong-type` (a string where the API wants an
integer), `ignore-retry-after` (retries a 429 at once), `missing-auth`
(forgets the token on one request). Exit code 0 when the flow went through.
"""

import os
import pathlib
import sys
import time

import requests

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "images"

api_url = os.environ["F2M_BASE_URL"]
access_token = os.environ["F2M_TOKEN"]
bug = os.environ.get("F2M_BUG", "")
headers = {"Authorization": "Bearer " + access_token}


def create_job(body):
    """POST /flat-2-model; on 429 waits what Retry-After says (the bug: not at all)."""
    for _ in range(5):
        response = requests.post(api_url + "/flat-2-model", headers=headers, json=body)
        if response.status_code != 429:
            response.raise_for_status()
            return response.json()["job_id"]
        wait = 0 if bug == "ignore-retry-after" else float(response.headers.get("Retry-After", "1"))
        time.sleep(wait)
    sys.exit("still rate-limited after 5 tries")


def main():
    with open(FIXTURES / "identity.jpg", "rb") as f:
        identity = requests.post(
            api_url + "/identity/upload", headers=headers, files={"image": f}, data={"name": "Model A"}
        )
    identity.raise_for_status()
    identity_code = identity.json()["identity_code"]

    project = requests.post(api_url + "/project", headers=headers, json={"project_name": "ci-project"})
    project.raise_for_status()
    project_id = project.json()["project_id"]

    upload = requests.post(
        api_url + "/upload", headers=headers, json={"project_name": "ci-project", "filename": "sku-shirt.jpg"}
    )
    upload.raise_for_status()
    upload = upload.json()
    with open(FIXTURES / "sku-shirt.jpg", "rb") as f:
        requests.put(upload["upload_url"], data=f, headers={"Content-Type": upload["content_type"]}).raise_for_status()

    instruction = {"pose": "standing front-facing", "num_variations": "2" if bug == "wrong-type" else 2}
    job_id = create_job(
        {
            "identity_code": identity_code,
            "project_id": project_id,
            "images": [upload["file_id"]],
            "instructions": [instruction],
        }
    )

    while True:
        status = requests.get(api_url + f"/jobs/{job_id}/status", headers=headers)
        status.raise_for_status()
        if status.json()["status"] in ("completed", "failed", "aborted"):
            break
        time.sleep(0.2)

    results = requests.get(
        api_url + f"/jobs/{job_id}/results", headers={} if bug == "missing-auth" else headers
    )
    results.raise_for_status()
    for result in results.json()["results"]:
        # Result images are signed URLs: fetched without the token.
        requests.get(result["output"]["full_size"]).raise_for_status()
    print(f"job {job_id}: {len(results.json()['results'])} outputs")


if __name__ == "__main__":
    try:
        main()
    except requests.HTTPError as e:
        sys.exit(f"client failed: {e}")
