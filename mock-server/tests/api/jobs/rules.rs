//! The request rules: every documented rule refused with its field path, every
//! accepted shape, references scoped to the account.

use serde_json::{Value, json};

use crate::helpers::{DEMO, OTHER, TestApp};

use super::{decode, refused_field};

#[tokio::test]
async fn each_documented_rule_is_refused_with_its_field_path() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let one = |opts: Value| TestApp::job_body(&inputs, json!([{ "options": opts }]));
    let mut cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}, {}]));
                b["options"] = json!({"anchor_index": 2});
                b
            },
            "options.anchor_index: must satisfy 0 <= anchor_index < 2 (the number of instructions)",
        ),
        (
            one(json!({"width": 1024})),
            "instructions[0].options.height: is required when width is set",
        ),
        (
            one(json!({"height": 1024})),
            "instructions[0].options.width: is required when height is set",
        ),
        (
            one(json!({"width": 300, "height": 1024})),
            "instructions[0].options.width: must be a multiple of 8",
        ),
        (
            one(json!({"width": 2560, "height": 512})),
            "instructions[0].options.width: width/height ratio 2560:512 must be between 1:4 and 4:1",
        ),
        (
            one(json!({"width": 248, "height": 1024})),
            "instructions[0].options.width: must be between 256 and 7000",
        ),
        (
            one(json!({"width": 1024, "height": 7008})),
            "instructions[0].options.height: must be between 256 and 7000",
        ),
        (
            one(json!({"size": "8K"})),
            "instructions[0].options.size: must be one of 1K, 2K, 4K",
        ),
        (
            one(json!({"ar": "2:1"})),
            "instructions[0].options.ar: must be one of 1:1, 3:4, 4:3, 9:16, 16:9",
        ),
        (
            one(json!({"format": "gif"})),
            "instructions[0].options.format: must be one of jpg, png",
        ),
        (
            TestApp::job_body(&inputs, json!([{"num_variations": 9}])),
            "instructions[0].num_variations: must be between 1 and 8",
        ),
        (
            TestApp::job_body(&inputs, json!([{"num_variations": 0}])),
            "instructions[0].num_variations: must be between 1 and 8",
        ),
        (
            TestApp::job_body(&inputs, json!([{"pose": 99}])),
            "instructions[0].pose: no saved Design Value with index 99 in this account",
        ),
        (
            TestApp::job_body(&inputs, json!([{"pose": {"image": "x"}}])),
            "instructions[0].pose.text: is required",
        ),
        (
            TestApp::job_body(&inputs, json!([{"mood": true}])),
            "instructions[0].mood: must be a string, an integer index of a saved Design Value, or {text, image}",
        ),
        (
            TestApp::job_body(&inputs, json!([{"camera": {"framing": 3}}])),
            "instructions[0].camera.framing: must be a string",
        ),
        (
            TestApp::job_body(&inputs, json!([{"seed": "x"}])),
            "instructions[0].seed: must be an integer",
        ),
        (
            TestApp::job_body(&inputs, json!([])),
            "instructions: must have 1 to 10 items",
        ),
        (
            TestApp::job_body(&inputs, json!((0..11).map(|_| json!({})).collect::<Vec<_>>())),
            "instructions: must have 1 to 10 items",
        ),
        (
            TestApp::job_body(&inputs, json!(["pose"])),
            "instructions[0]: must be an object",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["images"] = json!([]);
                b
            },
            "images: must have 1 to 10 items",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["images"] = json!((0..11).map(|i| format!("sku_{i}")).collect::<Vec<_>>());
                b
            },
            "images: must have 1 to 10 items",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["images"] = json!([inputs.file_ids[0], inputs.file_ids[0]]);
                b
            },
            "images[1]: duplicate file ID (also images[0])",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["images"] = json!([{"note": "x"}]);
                b
            },
            "images[0].file_id: is required",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["options"] = json!({"model": "dalle"});
                b
            },
            "options.model: must be one of auto, nano_banana_pro, seedream",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["options"] = json!({"model": "nano_banana_pro", "use_alternative_method": true});
                b
            },
            "options.use_alternative_method: means model \"seedream\" and conflicts with options.model \"nano_banana_pro\"",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b["post_process"] = json!("yes");
                b
            },
            "post_process: must be a boolean",
        ),
        (
            {
                let mut b = TestApp::job_body(&inputs, json!([{}]));
                b.as_object_mut().expect("obj").remove("identity_code");
                b
            },
            "identity_code: is required",
        ),
    ];
    let with = |key: &str, v: Value| {
        let mut b = TestApp::job_body(&inputs, json!([{}]));
        b[key] = v;
        b
    };
    cases.extend([
        (
            TestApp::job_body(&inputs, json!([{"seed": 1.5}])),
            "instructions[0].seed: must be an integer",
        ),
        (
            one(json!({"seed": "x"})),
            "instructions[0].options.seed: must be an integer",
        ),
        (one(json!("big")), "instructions[0].options: must be an object"),
        (
            TestApp::job_body(&inputs, json!([{"category_names": "casual"}])),
            "instructions[0].category_names: must be an array of strings",
        ),
        (
            TestApp::job_body(&inputs, json!([{"category_names": ["a", 3]}])),
            "instructions[0].category_names[1]: must be a string",
        ),
        (
            TestApp::job_body(
                &inputs,
                json!([{"category_names": (0..51).map(|i| i.to_string()).collect::<Vec<_>>()}]),
            ),
            "instructions[0].category_names: must have at most 50 items",
        ),
        (
            TestApp::job_body(&inputs, json!([{"preset_name": 7}])),
            "instructions[0].preset_name: must be a string",
        ),
        (
            TestApp::job_body(&inputs, json!([{"prompt": "x".repeat(8001)}])),
            "instructions[0].prompt: must be at most 8000 characters",
        ),
        (
            TestApp::job_body(&inputs, json!([{"prompt": "bell\u{7}"}])),
            "instructions[0].prompt: must not contain control characters",
        ),
        (
            TestApp::job_body(&inputs, json!([{"lighting": {"quality": ["soft"]}}])),
            "instructions[0].lighting.quality: must be a string",
        ),
        (
            TestApp::job_body(&inputs, json!([{"style": {"text": "x", "image": 5}}])),
            "instructions[0].style.image: must be a string",
        ),
        (
            TestApp::job_body(&inputs, json!([{"pose": ""}])),
            "instructions[0].pose: must not be empty",
        ),
        (
            with("options", json!({"use_anchor": "no"})),
            "options.use_anchor: must be a boolean",
        ),
        (
            with("options", json!({"add_ai_watermark": 1})),
            "options.add_ai_watermark: must be a boolean",
        ),
        (
            with("options", json!({"use_alternative_method": "yes"})),
            "options.use_alternative_method: must be a boolean",
        ),
        (
            with("options", json!({"anchor_index": -1})),
            "options.anchor_index: must satisfy 0 <= anchor_index < 1 (the number of instructions)",
        ),
        (
            with("options", json!({"anchor_index": "0"})),
            "options.anchor_index: must be an integer",
        ),
        (with("options", json!([])), "options: must be an object"),
        (
            with("images", json!([{"file_id": inputs.file_ids[0], "note": 5}])),
            "images[0].note: must be a string",
        ),
        (
            with(
                "images",
                json!([{"file_id": inputs.file_ids[0], "note": "n".repeat(2001)}]),
            ),
            "images[0].note: must be at most 2000 characters",
        ),
        (
            with("images", json!([7])),
            "images[0]: must be a file ID string or an object {file_id, note}",
        ),
    ]);
    for (body, expected) in cases {
        let got = refused_field(&app, DEMO, body, 400).await;
        assert!(got.iter().any(|g| g == expected), "expected {expected:?}, got {got:?}");
    }
    // Custom dimensions without the policy (the other account has none).
    let other = app.job_inputs(OTHER, 1).await;
    let got = refused_field(
        &app,
        OTHER,
        TestApp::job_body(&other, json!([{"options": {"width": 1024, "height": 1024}}])),
        400,
    )
    .await;
    assert_eq!(
        got,
        [
            "instructions[0].options.width: custom width/height require the OUTPUT_CUSTOM_DIMENSIONS policy on the account"
        ]
    );
    // Several broken rules come back together.
    let got = refused_field(
        &app,
        DEMO,
        TestApp::job_body(&inputs, json!([{"num_variations": 9}, {"options": {"width": 300}}])),
        400,
    )
    .await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(app.state.job_count(), 0, "no refused request made a job");
}

#[tokio::test]
async fn references_must_exist_in_the_account_and_files_must_be_uploaded() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut b = TestApp::job_body(&inputs, json!([{}]));
    b["images"] = json!(["sku_unknown"]);
    assert_eq!(
        refused_field(&app, DEMO, b, 404).await,
        ["images[0]: file not found in this account"]
    );

    let announced = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "never.png"}))
        .send()
        .await
        .expect(200)
        .json();
    let mut b = TestApp::job_body(&inputs, json!([{}]));
    b["images"] = json!([inputs.file_ids[0], {"file_id": announced["file_id"]}]);
    let got = refused_field(&app, DEMO, b, 400).await;
    assert_eq!(
        got,
        ["images[1]: the file's bytes were never uploaded: PUT them to its upload_url first"]
    );

    // Another tenant's identity, project and files are unknown here.
    let other = app.job_inputs(OTHER, 1).await;
    let got = refused_field(&app, DEMO, TestApp::job_body(&other, json!([{}])), 404).await;
    assert_eq!(
        got,
        [
            "identity_code: identity not found in this account",
            "project_id: project not found in this account",
            "images[0]: file not found in this account"
        ]
    );
}

#[tokio::test]
async fn every_shape_of_every_field_is_accepted() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 2).await;
    let mut body = TestApp::job_body(
        &inputs,
        json!([
            {
                "pose": 1, "expression": {"text": "smiling", "image": "0b7e6f4e-3f7a-4c38-9f61-2f4f6a0c9d11"}, "mood": "casual",
                "camera": "close-up", "lighting": {"direction": "left", "quality": "soft", "complexity": "simple"},
                "background": 2, "style": "minimal", "color_palette": "earth tones", "angle": "eye level",
                "prompt": "a sunny day", "seed": 42, "num_variations": 3, "preset_name": "Summer",
                "category_names": ["casual", "summer"], "options": {"width": 1024, "height": 512, "format": "png", "seed": 7}
            },
            { "camera": {"framing": "full body", "lens": "50mm", "aperture": "f/2.8"}, "lighting": 3, "num_variations": 2 }
        ]),
    );
    body["images"] = json!([{"file_id": inputs.file_ids[0], "note": "tucked into pants"}, inputs.file_ids[1]]);
    body["options"] = json!({"model": "seedream", "use_anchor": false, "anchor_index": 1, "add_ai_watermark": false});
    body["post_process"] = json!(true);
    body["review_config"] = json!(null);
    body["an_unknown_field"] = json!({"is": "ignored"});
    body["instructions"][1]["num_variations"] = json!(2.0);
    let r = app.accept_job(DEMO, body).await.json();
    assert_eq!(r["total_outputs"], 5, "the sum of num_variations");
    let job = r["job_id"].as_str().expect("id").to_owned();
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    let pairs: Vec<(u64, u64)> = res["results"]
        .as_array()
        .expect("r")
        .iter()
        .map(|r| {
            (
                r["image_index"].as_u64().expect("i"),
                r["group_index"].as_u64().expect("g"),
            )
        })
        .collect();
    assert_eq!(pairs, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]);
    let first = &res["results"][0];
    assert_eq!(first["preset_name"], "Summer");
    assert_eq!(first["category_names"], json!(["casual", "summer"]));
    assert_eq!(first["model_used"], "seedream");
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(1024), Some(512)),
        "custom size overrides size and ar"
    );
    assert!(
        first["input_description"]
            .as_str()
            .expect("d")
            .contains("standing front-facing"),
        "saved Design Value 1 resolved"
    );
    assert_eq!(res["results"][0]["inputs"][0]["note"], "tucked into pants");
    assert_eq!(res["processing_options"]["anchor_index"], 1);
    let img = app
        .get(first["output"]["full_size"].as_str().expect("url"))
        .send()
        .await
        .expect(200);
    let (format, decoded) = decode(&img.body);
    assert_eq!(
        (format, decoded.width(), decoded.height()),
        (image::ImageFormat::Png, 1024, 512)
    );
}

#[tokio::test]
async fn jobs_are_tenant_scoped() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    app.finish_jobs();
    for path in [
        format!("/jobs/{job}/status"),
        format!("/jobs/{job}/results"),
        format!("/jobs/{job}/versions/0"),
    ] {
        app.get(&path).token(OTHER).send().await.expect(404);
    }
    let r = app
        .zip_request(OTHER, "/download", json!({"job_id": job}))
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("job_id"));
    app.get("/jobs/job_nope/status").token(DEMO).send().await.expect(404);
}
