"""A client that behaves as the vendor's public example client does
(`flat_to_model.py` of piktid/flat-to-model), written here from its
behaviour, run against the fake with only the base URL and token changed:

- it uploads every image of a SKU folder with `POST /upload {filename}`
  before any project exists, and PUTs the bytes with `http.client` and the
  answer's `content_type` (a PNG named `.jpg` goes up as `image/jpeg`);
- it creates the project named after the folder; on 409 it takes
  `project_id` from the body, else lists `GET /project?per_page=100` and uses
  the listed `project_key` (falling back to `project_id`);
- it checks `GET /identity/{code}` or uploads an identity (409: the existing
  code);
- it expects 202 from `POST /flat-2-model`, polls `GET /jobs/{id}/status`
  (a 404 is retried; completed, failed and aborted are final; progress is
  formatted as a number);
- it saves each completed result's `output.full_size`, fetched without auth,
  as `{stem}_v{version}.{ext}` from the result's `original_filename`.

The fake runs on the manual clock: the client's sleeps move it instead.
"""

import http.client
import json
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from conftest import FIXTURES, TOKEN, advance

# The vendor client's instruction file of issue 15: one 1K 3:4 output, plus
# one 4K 9:16 instruction with two variations.
INSTRUCTIONS = [
    {"pose": "standing front-facing", "background": "white studio",
     "options": {"size": "1K", "ar": "3:4"}},
    {"pose": "walking, mid-stride", "background": "urban street", "num_variations": 2,
     "options": {"size": "4K", "ar": "9:16", "format": "png"}},
]

MAGIC = {"jpg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n"}


class VendorLikeClient:
    """The vendor client's flow; `sleep` is where it would wait."""

    def __init__(self, base_url, token, input_folder, output_folder, sleep, trust_409_body=True):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.input_folder = Path(input_folder)
        self.output_folder = Path(output_folder)
        self.sleep = sleep
        # The vendor client reads `project_id` from a 409 when it is there;
        # False takes its other branch, the project list.
        self.trust_409_body = trust_409_body
        self.project_id = None
        self.log = []

    def _auth(self):
        return {"Authorization": f"Bearer {self.token}"}

    def _call(self, method, path, **kwargs):
        delay = 1.0
        for _ in range(6):
            r = requests.request(method, self.base_url + path, headers=self._auth(), timeout=60, **kwargs)
            if r.status_code != 429:
                return r
            self.sleep(delay)
            delay = min(delay * 2, 60.0)
        return r

    def upload_images(self):
        file_ids = []
        for path in sorted(self.input_folder.iterdir()):
            if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                continue
            r = self._call("post", "/upload", json={"filename": path.name})
            assert r.status_code == 200, r.text
            info = r.json()
            url = urlparse(info["upload_url"])
            conn = http.client.HTTPConnection(url.netloc, timeout=60)
            conn.request("PUT", f"{url.path}?{url.query}", body=path.read_bytes(),
                         headers={"Content-Type": info["content_type"]})
            put = conn.getresponse()
            put.read()
            conn.close()
            assert put.status in (200, 201), f"PUT {path.name}: {put.status}"
            file_ids.append(info["file_id"])
        return file_ids

    def create_project(self, name):
        r = self._call("post", "/project", json={"project_name": name})
        if r.status_code in (200, 201):
            self.project_id = r.json()["project_id"]
            return
        assert r.status_code == 409, r.text
        body = r.json()
        if self.trust_409_body and "project_id" in body:
            self.project_id = body["project_id"]
            return
        self.log.append("409 fallback: listing projects")
        listed = self._call("get", "/project", params={"per_page": 100})
        assert listed.status_code == 200, listed.text
        for project in listed.json().get("projects", []):
            if project.get("project_text") == name:
                self.project_id = project.get("project_key", project.get("project_id"))
                return
        raise AssertionError(f"project {name!r} not listed")

    def identity(self, code=None, image=None):
        if code:
            r = self._call("get", f"/identity/{code}")
            if r.status_code == 200:
                return r.json()["identity_code"]
        image = Path(image)
        with open(image, "rb") as f:
            r = requests.post(self.base_url + "/identity/upload", headers=self._auth(),
                              files={"image": (image.name, f, "image/jpeg")},
                              data={"name": image.stem}, timeout=60)
        if r.status_code in (200, 201):
            return r.json()["identity_code"]
        assert r.status_code == 409, r.text
        body = r.json()
        return body.get("existing_identity_code", body.get("identity_code"))

    def create_job(self, identity_code, file_ids, instructions):
        r = self._call("post", "/flat-2-model", json={
            "project_id": self.project_id,
            "images": file_ids,
            "identity_code": identity_code,
            "instructions": instructions,
            "options": {"model": "auto"},
        })
        assert r.status_code == 202, r.text
        return r.json()["job_id"], r.json().get("total_outputs", len(instructions))

    def wait(self, job_id):
        self.sleep(5)
        for _ in range(200):
            r = self._call("get", f"/jobs/{job_id}/status")
            if r.status_code == 404:
                self.sleep(30)
                continue
            assert r.status_code == 200, r.text
            status = r.json()
            self.log.append(f"Progress: {status.get('progress', 0):.1f}% - Status: {status['status']}")
            if status["status"] in ("completed", "failed", "aborted"):
                return status["status"]
            self.sleep(5)
        raise AssertionError("the job never finished")

    def download(self, job_id):
        r = self._call("get", f"/jobs/{job_id}/results")
        assert r.status_code == 200, r.text
        data = r.json()
        self.output_folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for result in data["results"]:
            if result.get("status") != "completed":
                continue
            img = requests.get(result["output"]["full_size"], timeout=60)
            img.raise_for_status()
            name = Path(result.get("original_filename", f"image_{result['image_index']}.jpg")).name
            version = result.get("version", 0)
            if "." in name:
                stem, ext = name.rsplit(".", 1)
                name = f"{stem}_v{version}.{ext}"
            else:
                name = f"{name}_v{version}"
            (self.output_folder / name).write_bytes(img.content)
            saved.append(name)
        (self.output_folder / "metadata.json").write_text(json.dumps(data, indent=2))
        return data, saved

    def run(self, instructions, identity_code=None, identity_image=None):
        file_ids = self.upload_images()
        self.create_project(self.input_folder.name)
        code = self.identity(identity_code, identity_image)
        job_id, total = self.create_job(code, file_ids, instructions)
        assert self.wait(job_id) == "completed"
        data, saved = self.download(job_id)
        return job_id, total, data, saved


@pytest.fixture
def sku_folder(tmp_path):
    """A SKU folder as a user would have it: a JPEG, and a PNG whose name
    says `.jpg` (the vendor client uploads it as `image/jpeg`)."""
    folder = tmp_path / "SKU-P1KT1D"
    folder.mkdir()
    (folder / "shirt.jpg").write_bytes((FIXTURES / "images" / "sku-shirt.jpg").read_bytes())
    (folder / "pants.jpg").write_bytes((FIXTURES / "images" / "sku-pants.png").read_bytes())
    return folder


def clock_sleep(api_url):
    return lambda seconds: advance(api_url, f"{max(1, int(seconds))}s")


def check_saved(out, data, saved):
    expected = {"output_0_0_v0.jpg", "output_1_0_v0.png", "output_1_1_v0.png"}
    assert sorted(saved) == sorted(expected), saved
    assert {p.name for p in out.iterdir()} == expected | {"metadata.json"}
    for name in expected:
        ext = name.rsplit(".", 1)[1]
        assert (out / name).read_bytes().startswith(MAGIC[ext]), f"{name} is not a {ext}"
    by_name = {r["original_filename"]: r for r in data["results"]}
    assert set(by_name) == {"output_0_0.jpg", "output_1_0.png", "output_1_1.png"}
    assert len({r["download_filename"] for r in data["results"]}) == 3


def test_vendor_like_client_keeps_every_output(api_url, sku_folder, tmp_path):
    out = tmp_path / "results"
    client = VendorLikeClient(api_url, TOKEN, sku_folder, out, clock_sleep(api_url))
    job_id, total, data, saved = client.run(INSTRUCTIONS, identity_image=FIXTURES / "images" / "identity.jpg")
    assert total == 3
    assert data["job_id"] == job_id and data["status"] == "completed"
    check_saved(out, data, saved)


def test_vendor_like_client_409_fallback_and_gallery_identity(api_url, sku_folder, tmp_path):
    headers = {"Authorization": "Bearer " + TOKEN}
    # The folder's project exists already: the client meets a 409.
    requests.post(api_url + "/project", headers=headers, json={"project_name": sku_folder.name + "-again"})
    existing = requests.post(api_url + "/project", headers=headers, json={"project_name": sku_folder.name + "-again"})
    assert existing.status_code == 409
    folder = sku_folder.rename(sku_folder.parent / (sku_folder.name + "-again"))
    out = tmp_path / "results"
    client = VendorLikeClient(api_url, TOKEN, folder, out, clock_sleep(api_url), trust_409_body=False)
    job_id, total, data, saved = client.run(INSTRUCTIONS, identity_code="PiktidPremium")
    assert "409 fallback: listing projects" in client.log
    assert data["identity_code"] == "PiktidPremium"
    listed = requests.get(api_url + "/project", headers=headers, params={"per_page": 100}).json()
    project = next(p for p in listed["projects"] if p["project_text"] == folder.name)
    assert data["project_id"] == project["project_id"]
    check_saved(out, data, saved)
