"""The vendor documentation's Python examples, run against the fake with only
`api_url` and the token changed, plus what the vendor's example client relies on."""

import requests

from conftest import FIXTURES, TOKEN


def test_uploading_identities_example(api_url):
    access_token = TOKEN
    identity_image_path = FIXTURES / "images" / "identity.jpg"

    with open(identity_image_path, "rb") as f:
        response = requests.post(
            api_url + "/identity/upload",
            headers={"Authorization": "Bearer " + access_token},
            files={"image": f},
            data={"name": "Model A"},  # Optional custom name
        ).json()

    identity_code = response["identity_code"]
    assert identity_code.startswith("id_")
    assert response["name"] == "Model A"
    assert response["face_detected"] is True
    assert response["success"] is True


def test_creating_a_project_example(api_url):
    access_token = TOKEN

    response = requests.post(
        api_url + "/project",
        headers={"Authorization": "Bearer " + access_token},
        json={"project_name": "my-flat-lay-project"},
    ).json()
    project_id = response["project_id"]
    project_name = response["project_name"]
    assert project_id
    assert project_name == "my-flat-lay-project"


def test_uploading_images_example_and_bytes_come_back(api_url):
    access_token = TOKEN
    project_name = "my-flat-lay-project"
    requests.post(api_url + "/project", headers={"Authorization": "Bearer " + access_token},
                  json={"project_name": project_name})
    image_path = FIXTURES / "images" / "sku-shirt.jpg"

    # Step 1: Get pre-signed upload URL
    response = requests.post(
        api_url + "/upload",
        headers={"Authorization": "Bearer " + access_token},
        json={
            "project_name": project_name,
            "filename": "sku-shirt.jpg",
        },
    ).json()

    upload_url = response["upload_url"]
    content_type = response["content_type"]
    file_id = response["file_id"]

    # Step 2: Upload the image binary
    with open(image_path, "rb") as f:
        put = requests.put(
            upload_url,
            headers={"Content-Type": content_type},
            data=f.read(),
        )

    assert put.status_code == 200
    assert file_id.startswith("sku_")
    assert response["content_type"] == "image/jpeg"
    assert response["project_name"] == project_name
    downloaded = requests.get(response["download_url"])
    assert downloaded.status_code == 200
    assert downloaded.content == image_path.read_bytes()


def test_example_client_habits(api_url):
    """What the vendor's flat_to_model.py does: upload before any project,
    read project_id from a 409, check an identity by code."""
    headers = {"Authorization": "Bearer " + TOKEN}
    up = requests.post(api_url + "/upload", headers=headers, json={"filename": "sku-pants.png"})
    assert up.status_code in (200, 201)
    body = up.json()
    put = requests.put(body["upload_url"], headers={"Content-Type": body["content_type"]},
                       data=(FIXTURES / "images" / "sku-pants.png").read_bytes())
    assert put.status_code in (200, 201)

    first = requests.post(api_url + "/project", headers=headers, json={"project_name": "habits"})
    assert first.status_code in (200, 201)
    again = requests.post(api_url + "/project", headers=headers, json={"project_name": "habits"})
    assert again.status_code == 409
    assert again.json()["project_id"] == first.json()["project_id"]
    listed = requests.get(api_url + "/project?per_page=100", headers=headers).json()
    assert any(p["project_text"] == "habits" for p in listed["projects"])

    with open(FIXTURES / "images" / "identity.jpg", "rb") as f:
        dup = requests.post(api_url + "/identity/upload", headers=headers, files={"image": f})
    assert dup.status_code in (200, 201, 409)
    code = dup.json().get("identity_code") or dup.json()["existing_identity_code"]
    assert requests.get(api_url + f"/identity/{code}", headers=headers).status_code == 200
    assert requests.get(api_url + "/project", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_example_client_with_a_gallery_identity(api_url):
    """flat_to_model.py with `--identity-code PiktidPremium` (its README's
    `PiktidSummer` too), in both fixture accounts: each image of a folder
    uploaded with POST /upload {filename} only and PUT through http.client
    with the returned content_type, then GET /identity/{code} and its
    data["identity_code"] in the job."""
    import http.client
    import urllib.parse

    from conftest import advance

    for token, code in [(TOKEN, "PiktidPremium"), ("f2m_other_token", "PiktidSummer")]:
        headers = {"Authorization": "Bearer " + token}
        file_ids = []
        for name in ["sku-shirt.jpg", "sku-pants.png"]:
            up = requests.post(api_url + "/upload", headers=headers, json={"filename": name})
            assert up.status_code in (200, 201)
            body = up.json()
            url = urllib.parse.urlsplit(body["upload_url"])
            conn = http.client.HTTPConnection(url.netloc)
            conn.request("PUT", url.path + "?" + url.query, body=(FIXTURES / "images" / name).read_bytes(),
                         headers={"Content-Type": body["content_type"]})
            assert conn.getresponse().status in (200, 201)
            conn.close()
            file_ids.append(body["file_id"])
        data = requests.get(api_url + f"/identity/{code}", headers=headers).json()
        project = requests.post(api_url + "/project", headers=headers, json={"project_name": "gallery-" + code})
        job = requests.post(api_url + "/flat-2-model", headers=headers, json={
            "identity_code": data["identity_code"],
            "project_id": project.json()["project_id"],
            "images": file_ids,
            "instructions": [{"pose": "standing front-facing"}],
        })
        assert job.status_code == 202
        advance(api_url, "1h")
        status = requests.get(api_url + f"/jobs/{job.json()['job_id']}/status", headers=headers).json()
        assert (status["status"], status["identity_code"]) == ("completed", code)
