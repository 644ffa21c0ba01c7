"""The vendor documentation's job examples ("Starting a job", "Checking job
status", "Retrieving results", "Bulk download", "Error handling") against the
fake, with only `api_url` and the token changed."""

import io
import zipfile

import pytest
import requests

from conftest import FIXTURES, TOKEN, advance


@pytest.fixture(scope="module")
def inputs(api_url):
    headers = {"Authorization": "Bearer " + TOKEN}
    with open(FIXTURES / "images" / "identity.jpg", "rb") as f:
        r = requests.post(api_url + "/identity/upload", headers=headers, files={"image": f}, data={"name": "Jobs model"})
    identity_code = r.json().get("identity_code") or r.json()["existing_identity_code"]
    project = requests.post(api_url + "/project", headers=headers, json={"project_name": "jobs-project"}).json()
    file_ids = []
    for name in ["sku-shirt.jpg", "sku-pants.png"]:
        up = requests.post(api_url + "/upload", headers=headers,
                           json={"project_name": "jobs-project", "filename": name}).json()
        requests.put(up["upload_url"], headers={"Content-Type": up["content_type"]},
                     data=(FIXTURES / "images" / name).read_bytes()).raise_for_status()
        file_ids.append(up["file_id"])
    return project["project_id"], identity_code, file_ids


def start_vendor_job(api_url, project_id, identity_code, file_ids):
    access_token = TOKEN
    instructions = [
        {
            "pose": "standing front-facing",
            "expression": "neutral",
            "background": "white studio",
            "lighting": "soft",
            "camera": {"framing": "full body", "angle": "eye level"},
            "options": {
                "size": "2K",
                "ar": "9:16",
                "format": "jpg",
            },
        },
        {
            "pose": "walking, mid-stride",
            "expression": "confident",
            "mood": "editorial",
            "background": "gym rooftop at golden hour",
            "lighting": "dramatic",
            "camera": {"framing": "three-quarter", "angle": "low angle"},
            "options": {
                "size": "2K",
                "ar": "3:4",
                "format": "png",
            },
        },
    ]

    response = requests.post(
        api_url + "/flat-2-model",
        headers={"Authorization": "Bearer " + access_token},
        json={
            "identity_code": identity_code,
            "project_id": project_id,
            "images": file_ids,
            "instructions": instructions,
            "post_process": False,  # Optional: enable post-processing
            "options": {
                "model": "auto",  # Optional: see "Generation options" below
            },
        },
    ).json()

    job_id = response["job_id"]
    total_outputs = response["total_outputs"]
    return job_id, total_outputs


def test_starting_a_job_status_results_and_bulk_download(api_url, inputs):
    project_id, identity_code, file_ids = inputs
    job_id, total_outputs = start_vendor_job(api_url, project_id, identity_code, file_ids)
    assert job_id.startswith("job_") and total_outputs == 2

    access_token = TOKEN
    # Checking job status
    response = requests.get(
        api_url + f"/jobs/{job_id}/status",
        headers={"Authorization": "Bearer " + access_token},
    ).json()
    assert response["status"] == "pending"
    assert isinstance(response["progress"], float)
    assert f"{response['processed_images']}/{response['total_images']}" == "0/2"

    advance(api_url, "1h")
    response = requests.get(api_url + f"/jobs/{job_id}/status",
                            headers={"Authorization": "Bearer " + access_token}).json()
    assert response["status"] == "completed" and response["progress"] == 100.0

    # Retrieving results (and "Which engine produced each output")
    response = requests.get(
        api_url + f"/jobs/{job_id}/results",
        headers={"Authorization": "Bearer " + access_token},
    ).json()
    sizes = []
    for result in response["results"]:
        assert result.get("model_used") in ("nano_banana_pro", "seedream")
        image = requests.get(result["output"]["full_size"])  # no auth header, like the example client
        assert image.status_code == 200
        sizes.append((image.headers["Content-Type"], len(image.content) > 0))
    assert sizes == [("image/jpeg", True), ("image/png", True)]

    # Error handling example: nothing failed here.
    if response["status"] == "failed":
        pytest.fail(f"Job failed: {response['error_message']}")
    else:
        for result in response["results"]:
            assert result["status"] != "failed"

    # Bulk download
    response = requests.post(
        api_url + "/download",
        headers={"Authorization": "Bearer " + access_token},
        json={"job_id": job_id},
    ).json()
    download_url = response["download_url"]
    assert response["expires"].endswith("Z")
    zip_response = requests.get(download_url)
    names = sorted(zipfile.ZipFile(io.BytesIO(zip_response.content)).namelist())
    assert names == ["output_0_0_v0.jpg", "output_1_0_v0.png"]


def test_error_handling_example_sees_failed_outputs(api_url, inputs):
    project_id, identity_code, file_ids = inputs
    headers = {"Authorization": "Bearer " + TOKEN}
    body = {
        "identity_code": identity_code,
        "project_id": project_id,
        "images": file_ids,
        "instructions": [{"prompt": "mock:refuse"}, {"pose": "seated"}],
        "options": {"model": "nano_banana_pro"},
    }
    r = requests.post(api_url + "/flat-2-model", headers=headers, json=body)
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    advance(api_url, "1h")
    response = requests.get(api_url + f"/jobs/{job_id}/results", headers=headers).json()
    failed = [r for r in response["results"] if r["status"] == "failed"]
    assert response["status"] == "completed"
    assert [f["error_message"] for f in failed] == ["content refused by nano_banana_pro"]
