//! Lean control answers: a scenario change answers the choices, not the
//! catalogue; `GET /__admin/jobs` lists jobs with filters.

use serde_json::json;

use crate::helpers::{DEMO, OTHER, TestApp};

#[tokio::test]
async fn a_scenario_change_answers_the_choices_without_the_catalogue() {
    let app = TestApp::spawn().await;
    let full = app.get("/__admin/scenarios").send().await.expect(200);
    assert!(full.json()["scenarios"][0]["description"].is_string());
    let r = app
        .put("/__admin/scenarios/active")
        .json(json!({"name": "webhook-outage", "token": DEMO}))
        .send()
        .await
        .expect(200);
    let v = r.json();
    assert!(v.get("scenarios").is_none(), "{v}");
    assert!(v["names"].as_array().expect("names").contains(&json!("webhook-outage")));
    assert_eq!(v["tokens"][0]["scenario"], "webhook-outage");
    assert!(
        r.text().len() * 4 < full.text().len(),
        "{} bytes against the catalogue's {}",
        r.text().len(),
        full.text().len()
    );
    let r = app
        .call(reqwest::Method::DELETE, "/__admin/scenarios/webhook-outage")
        .send()
        .await
        .expect(200);
    assert!(r.json().get("scenarios").is_none());
    assert!(
        !r.json()["names"]
            .as_array()
            .expect("names")
            .contains(&json!("webhook-outage"))
    );
}

#[tokio::test]
async fn jobs_are_listed_by_tenant_status_and_time() {
    let app = TestApp::spawn().await;
    let demo_inputs = app.job_inputs(DEMO, 1).await;
    let other_inputs = app.job_inputs(OTHER, 1).await;
    let first = app.create_job(DEMO, TestApp::job_body(&demo_inputs, json!([{}]))).await;
    app.finish_jobs();
    let later = app.get("/__admin/clock").send().await.expect(200).json()["now"].clone();
    let second = app
        .create_job(DEMO, TestApp::job_body(&demo_inputs, json!([{}, {}])))
        .await;
    let theirs = app
        .create_job(OTHER, TestApp::job_body(&other_inputs, json!([{}])))
        .await;

    let ids = |q: &str| {
        let q = q.to_owned();
        let app = &app;
        async move {
            let v = app.get(&format!("/__admin/jobs{q}")).send().await.expect(200).json();
            v["jobs"]
                .as_array()
                .expect("jobs")
                .iter()
                .map(|j| j["job_id"].as_str().expect("id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("").await, [first.as_str(), second.as_str(), theirs.as_str()]);
    assert_eq!(ids("?status=completed").await, [first.as_str()]);
    assert_eq!(
        ids("?status=pending").await.len() + ids("?status=processing").await.len(),
        2
    );
    let since = format!("?since={}", later.as_str().expect("now"));
    assert_eq!(ids(&since).await, [second.as_str(), theirs.as_str()]);
    let listed = app
        .get("/__admin/jobs?status=completed")
        .send()
        .await
        .expect(200)
        .json();
    let job = &listed["jobs"][0];
    assert_eq!(job["outputs"][0]["status"], "completed", "{job}");
    assert!(job["outputs"][0]["model_used"].is_string(), "{job}");
    let owner = job["owner"].as_str().expect("owner").to_owned();
    assert_eq!(
        ids(&format!("?tenant={owner}")).await,
        [first.as_str(), second.as_str()]
    );
    assert_eq!(
        ids(&format!("?account={owner}&since={}", later.as_str().expect("now"))).await,
        [second.as_str()]
    );

    for (q, field, status) in [
        ("?status=done", "status", 400),
        ("?since=yesterday", "since", 400),
        ("?tenant=acct_nobody", "tenant", 404),
        ("?tenant=a&account=b", "tenant", 400),
        ("?sort=asc", "sort", 400),
    ] {
        let r = app.get(&format!("/__admin/jobs{q}")).send().await.expect(status);
        assert_eq!(r.error_field().as_deref(), Some(field), "{q}");
    }
}
