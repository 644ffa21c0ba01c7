"""The plugin's own tests: a client written as the vendor's Python examples
are (requests, ``api_url``, ``access_token``) runs its whole flow through
the fixtures, and a scenario; the fixtures keep tenants apart and the
journal assertion catches a broken request."""

import pathlib

import pytest
import requests

IMAGES = pathlib.Path(__file__).resolve().parents[3] / "fixtures" / "images"


def vendor_flow(api_url, access_token, instructions):
    """The reference's examples, one after the other: identity, project,
    upload, job, status, results. Returns the results."""
    with open(IMAGES / "identity.jpg", "rb") as f:
        identity_code = requests.post(
            api_url + "/identity/upload",
            headers={"Authorization": "Bearer " + access_token},
            files={"image": f},
            data={"name": "Model A"},
        ).json()["identity_code"]
    project_id = requests.post(
        api_url + "/project",
        headers={"Authorization": "Bearer " + access_token},
        json={"project_name": "my-flat-lay-project"},
    ).json()["project_id"]
    response = requests.post(
        api_url + "/upload",
        headers={"Authorization": "Bearer " + access_token},
        json={"project_name": "my-flat-lay-project", "filename": "sku-shirt.jpg"},
    ).json()
    with open(IMAGES / "sku-shirt.jpg", "rb") as f:
        requests.put(response["upload_url"], data=f, headers={"Content-Type": response["content_type"]})
    job_id = requests.post(
        api_url + "/flat-2-model",
        headers={"Authorization": "Bearer " + access_token},
        json={
            "identity_code": identity_code,
            "project_id": project_id,
            "images": [response["file_id"]],
            "instructions": instructions,
        },
    ).json()["job_id"]
    status = requests.get(api_url + f"/jobs/{job_id}/status", headers={"Authorization": "Bearer " + access_token})
    assert status.json()["status"] == "completed"  # --time-scale 0: jobs are instant
    return requests.get(
        api_url + f"/jobs/{job_id}/results", headers={"Authorization": "Bearer " + access_token}
    ).json()


def test_a_full_job_flow_runs_clean(f2m, journal):
    results = vendor_flow(f2m.base_url, f2m.token, [{"pose": "standing"}, {"background": "white studio"}])
    assert results["summary"]["successful"] == 2
    for r in results["results"]:
        assert requests.get(r["output"]["full_size"]).ok
    journal.assert_sent("POST", "/flat-2-model")
    journal.assert_sent("GET", "/jobs/{id}/results")
    journal.assert_clean()


def test_a_scenario_applies_to_the_block_alone(f2m, scenario, journal):
    with scenario("refuse-fallback"):
        results = vendor_flow(f2m.base_url, f2m.token, [{"pose": "standing"}])
    assert results["results"][0]["model_used"] == "seedream"
    assert f2m.settings()["scenario"] is None
    journal.assert_clean()


def test_six_jobs_in_a_row_need_no_wait(f2m):
    # The tenant runs without the vendor's 5-a-minute limit.
    for _ in range(6):
        r = requests.post(f2m.base_url + "/flat-2-model", headers=f2m.headers, json={})
        assert r.status_code == 400


def test_assert_clean_names_the_request_the_field_and_the_body(f2m, journal):
    requests.post(f2m.base_url + "/project", headers=f2m.headers, json={"project_name": 5})
    with pytest.raises(AssertionError, match=r"POST /project → 400: project_name: 5 is not of type") as e:
        journal.assert_clean()
    assert '{"project_name": 5}' in str(e.value)


def test_the_clock_moves_past_an_upload_urls_life(f2m, clock):
    up = requests.post(f2m.base_url + "/upload", headers=f2m.headers, json={"filename": "a.jpg"}).json()
    clock.advance("16m")
    assert requests.put(up["upload_url"], data=b"x", headers={"Content-Type": up["content_type"]}).status_code == 403


def test_each_test_has_a_tenant_of_its_own(f2m, f2m_fake):
    other = f2m_fake.new_tenant()
    try:
        requests.post(f2m.base_url + "/project", headers=other.headers, json={"project_name": "theirs"})
        mine = requests.get(f2m.base_url + "/project", headers=f2m.headers).json()["projects"]
        assert mine == []
        assert [(r["method"], r["caller"]) for r in f2m.journal.requests()] == [("GET", f2m.caller)]
        assert len(other.journal.requests()) == 1
    finally:
        other.reset()
