//! Bodies too large, too deep, too long: 413s and 400s, quickly.

use super::*;

#[tokio::test]
async fn oversized_bodies_and_uploads_are_refused() {
    let w = World::build(|c| {
        c.max_body_bytes = 4096;
        c.max_upload_bytes = 64 * 1024;
    })
    .await;
    let app = &w.app;
    let big_json = json_of_size(20_000);
    // At the limit the body is read (and its rule applies); one byte more is 413.
    w.refuse(
        "a JSON body of exactly --max-body-bytes is read",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", json_of_size(4096)),
        Api(400, Some("project_name")),
    )
    .await;
    w.refuse(
        "a JSON body one byte over --max-body-bytes",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", json_of_size(4097)),
        Api(413, None),
    )
    .await;
    for (method, path) in [
        ("POST", "/flat-2-model"),
        ("POST", "/upload"),
        ("PUT", "/webhooks"),
        ("POST", "/notifications"),
        ("POST", "/download"),
        ("POST", "/download/bulk"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/token"),
    ] {
        let call = app
            .call(method.parse().expect("method"), path)
            .token(DEMO)
            .bytes("application/json", big_json.clone());
        w.refuse(&format!("a 20 KB JSON body to {method} {path}"), call, Api(413, None))
            .await;
    }
    w.refuse(
        "a chunked JSON body without Content-Length",
        app.post("/project")
            .token(DEMO)
            .chunked("application/json", big_json.chunks(1000).map(<[u8]>::to_vec).collect()),
        Api(413, None),
    )
    .await;

    let over = |n: usize| vec![0x42u8; 64 * 1024 + n];
    for (case, bytes) in [
        ("an identity image one byte over --max-upload-bytes", over(1)),
        ("an identity upload three times the limit", over(128 * 1024)),
    ] {
        let form = Form::new().part("image", Part::bytes(bytes).file_name("big.png"));
        w.refuse(
            case,
            app.post("/identity/upload").token(DEMO).multipart(form),
            Api(413, None),
        )
        .await;
    }

    // Pre-signed PUTs answer as S3 does: 400 EntityTooLarge, at any size,
    // after the signature (a forged URL is refused as forged first).
    let slot = w.presign(DEMO, "big.png").await;
    let url = str_of(&slot["upload_url"]);
    for (case, bytes) in [
        ("a pre-signed PUT one byte over --max-upload-bytes", over(1)),
        ("a pre-signed PUT three times the limit", over(128 * 1024)),
    ] {
        w.refuse(case, app.put(url).bytes("image/png", bytes), S3(400, "EntityTooLarge"))
            .await;
    }
    w.refuse(
        "a chunked pre-signed PUT over the limit",
        app.put(url)
            .chunked("image/png", over(1).chunks(8192).map(<[u8]>::to_vec).collect()),
        S3(400, "EntityTooLarge"),
    )
    .await;
    let forged = with_param(url, "Signature", Some(&"0".repeat(64)));
    w.refuse(
        "a forged pre-signed PUT three times the limit",
        app.put(&forged).bytes("image/png", over(128 * 1024)),
        S3(403, "SignatureDoesNotMatch"),
    )
    .await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let arrays = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    let deep = arrays(10_000);
    // Unknown fields are skipped, not stored, but the skipping walks them
    // too: the deepest risk is a field nobody reads.
    let ignored = |value: &str| format!(r#"{{"ignored":{value}}}"#).into_bytes();
    let mut job = serde_json::to_string(&w.job_body()).expect("json");
    job.insert_str(1, &format!(r#""review_config":{},"#, objects(10_000)));
    let mut cases: Vec<(String, &str, &str, Vec<u8>)> = vec![
        (
            "10,000 nested objects in a job's review_config (which is kept)".into(),
            "POST",
            "/flat-2-model",
            job.into_bytes(),
        ),
        (
            "10,000 nested arrays as a project name".into(),
            "POST",
            "/project",
            format!(r#"{{"project_name":{deep}}}"#).into_bytes(),
        ),
    ];
    for (method, path) in [
        ("POST", "/project"),
        ("POST", "/flat-2-model"),
        ("POST", "/upload"),
        ("PUT", "/webhooks"),
        ("POST", "/notifications"),
        ("POST", "/download"),
        ("POST", "/download/bulk"),
        ("POST", "/auth/refresh"),
        ("POST", "/auth/token"),
        ("POST", "/__admin/clock"),
        ("POST", "/__admin/scenarios"),
        ("POST", "/__admin/journal/verify"),
        ("PUT", "/__admin/scenarios/active"),
    ] {
        for (shape, value) in [("arrays", &deep), ("objects", &objects(10_000))] {
            let case = format!("10,000 nested {shape} in an unknown field of {method} {path}");
            cases.push((case, method, path, ignored(value)));
        }
    }
    for (case, method, path, body) in cases {
        let call = app
            .call(method.parse().expect("method"), path)
            .token(DEMO)
            .bytes("application/json", body);
        let r = w.refuse(&case, call, Api(400, None)).await;
        assert!(message(&r).contains("recursion limit"), "{case}: {}", r.text());
    }
    w.refuse(
        "a top-level array 10,000 deep",
        app.post("/project")
            .token(DEMO)
            .bytes("application/json", deep.clone().into_bytes()),
        Api(400, None),
    )
    .await;
    let r = w
        .refuse(
            "a fault plan 10,000 deep",
            app.post("/flat-2-model")
                .token(DEMO)
                .header("x-mock-fault-plan", &deep)
                .json(w.job_body()),
            Api(400, Some("X-Mock-Fault-Plan")),
        )
        .await;
    assert!(message(&r).starts_with("not a fault plan"), "{}", r.text());
}

#[tokio::test]
async fn huge_arrays_and_long_strings_are_refused_quickly() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let job = |edit: &dyn Fn(&mut Value)| {
        let mut b = w.job_body();
        edit(&mut b);
        app.post("/flat-2-model").token(DEMO).json(b)
    };
    let file = w.files[0]["file_id"].clone();
    let long = |n: usize| "x".repeat(n);
    let cases: Vec<(&str, Call<'_>, Want)> = vec![
        (
            "100,000 instructions",
            job(&|b| b["instructions"] = json!(vec![json!({}); 100_000])),
            Api(400, Some("instructions")),
        ),
        (
            "11 instructions",
            job(&|b| b["instructions"] = json!(vec![json!({}); 11])),
            Api(400, Some("instructions")),
        ),
        (
            "10,000 images",
            job(&|b| b["images"] = json!(vec![file.clone(); 10_000])),
            Api(400, Some("images")),
        ),
        (
            "100,000 images that are numbers",
            job(&|b| b["images"] = json!(vec![0; 100_000])),
            Api(400, Some("images")),
        ),
        (
            "num_variations 1e300",
            job(&|b| b["instructions"][0]["num_variations"] = json!(1e300)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "num_variations 2^64",
            job(&|b| b["instructions"][0]["num_variations"] = json!(18_446_744_073_709_551_615u64)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "num_variations 9",
            job(&|b| b["instructions"][0]["num_variations"] = json!(9)),
            Api(400, Some("instructions[0].num_variations")),
        ),
        (
            "an 8,001-character prompt",
            job(&|b| b["instructions"][0]["prompt"] = json!(long(8001))),
            Api(400, Some("instructions[0].prompt")),
        ),
        (
            "a 500,000-character pose",
            job(&|b| b["instructions"][0]["pose"] = json!(long(500_000))),
            Api(400, Some("instructions[0].pose")),
        ),
        (
            "a 2,001-character note",
            job(&|b| b["images"] = json!([{"file_id": file, "note": long(2001)}])),
            Api(400, Some("images[0].note")),
        ),
        (
            "51 category names",
            job(&|b| b["instructions"][0]["category_names"] = json!(vec!["c"; 51])),
            Api(400, Some("instructions[0].category_names")),
        ),
        (
            "a 201-character project name",
            app.post("/project")
                .token(DEMO)
                .json(json!({"project_name": long(201)})),
            Api(400, Some("project_name")),
        ),
        (
            "a 256-character upload filename",
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": format!("{}.png", long(252))})),
            Api(400, Some("filename")),
        ),
        (
            "a 201-character project name for an upload",
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": "a.png", "project_name": long(201)})),
            Api(400, Some("project_name")),
        ),
        (
            "a 2,049-character webhook URL",
            app.put("/webhooks")
                .token(DEMO)
                .json(json!({"url": format!("http://example.com/{}", long(2030))})),
            Api(400, Some("url")),
        ),
        (
            "a 201-character identity name",
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(50, "name", &long(201))),
            Api(400, Some("name")),
        ),
        (
            "a 201-character tag",
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(51, "tag", &long(201))),
            Api(400, Some("tag")),
        ),
        (
            "a 256-character image file name",
            app.post("/identity/upload").token(DEMO).multipart(Form::new().part(
                "image",
                Part::bytes(image(64, 64, ImageFormat::Png, 52)).file_name(format!("{}.png", long(252))),
            )),
            Api(400, Some("image")),
        ),
        (
            "101 job ids for one ZIP",
            app.post("/download/bulk")
                .token(DEMO)
                .json(json!({"job_ids": vec![&w.job; 101]})),
            Api(400, Some("job_ids")),
        ),
        (
            "100,000 job ids for one ZIP",
            app.post("/download/bulk")
                .token(DEMO)
                .json(json!({"job_ids": vec!["j"; 100_000]})),
            Api(400, Some("job_ids")),
        ),
        (
            "100,000 job ids in a notification filter",
            app.post("/notifications")
                .token(DEMO)
                .json(json!({"id_task": vec!["j"; 100_000]})),
            Api(400, Some("id_task")),
        ),
        (
            "101 names in a notification filter's query",
            app.get(&format!("/notifications?name_list={}", vec!["ping"; 101].join(",")))
                .token(DEMO),
            Api(400, Some("name_list")),
        ),
        (
            "101 job ids in an SSE filter",
            app.get(&format!("/notifications/events?id_task={}", vec!["j"; 101].join(",")))
                .token(DEMO),
            Api(400, Some("id_task")),
        ),
        (
            "per_page of a trillion",
            app.get("/project?per_page=1000000000000").token(DEMO),
            Api(400, Some("per_page")),
        ),
        (
            "a token lifetime of 10^30 seconds",
            app.post("/auth/token").token(DEMO).json(json!({"expiration": 1e30})),
            Api(400, Some("expiration")),
        ),
    ];
    for (case, call, want) in cases {
        w.refuse(case, call, want).await;
    }
    // The journal keeps what it learned of them bounded: a few violations,
    // each clipped, not one per item of a 100,000-item array.
    let journal = app
        .get("/__admin/journal?path=/flat-2-model")
        .send()
        .await
        .expect(200)
        .json();
    let entries = journal["requests"].as_array().expect("requests");
    assert!(entries.len() >= 10);
    assert!(
        entries
            .iter()
            .any(|e| e["violations"][0]
                == "images: an array of 100000 items, too long to check item by item (over 1000)"),
        "the longest array is named instead of checked"
    );
    for e in entries {
        let violations = e["violations"].as_array().expect("violations");
        assert!(violations.len() <= 20, "{} violations", violations.len());
        for v in violations {
            assert!(str_of(v).chars().count() <= 301, "{v}");
        }
    }
}
