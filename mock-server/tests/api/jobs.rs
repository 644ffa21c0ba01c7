//! `POST /flat-2-model` and the job engine on the manual clock.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEMO, OTHER, TestApp};

fn vendor_instructions() -> Value {
    json!([
        {
            "pose": "standing front-facing",
            "expression": "neutral",
            "background": "white studio",
            "lighting": "soft",
            "camera": {"framing": "full body", "angle": "eye level"},
            "options": {"size": "2K", "ar": "9:16", "format": "jpg"}
        },
        {
            "pose": "walking, mid-stride",
            "expression": "confident",
            "mood": "editorial",
            "background": "gym rooftop at golden hour",
            "lighting": "dramatic",
            "camera": {"framing": "three-quarter", "angle": "low angle"},
            "options": {"size": "2K", "ar": "3:4", "format": "png"}
        }
    ])
}

/// The format and pixels of an image's bytes.
pub fn decode(bytes: &[u8]) -> (image::ImageFormat, image::RgbImage) {
    let format = image::guess_format(bytes).expect("an image");
    (format, image::load_from_memory(bytes).expect("decodes").to_rgb8())
}

#[tokio::test]
async fn the_vendor_example_runs_completes_and_downloads() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 2).await;
    let mut body = TestApp::job_body(&inputs, vendor_instructions());
    body["post_process"] = json!(false);
    body["options"] = json!({"model": "auto"});
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body)
        .send()
        .await
        .expect(202)
        .json();
    assert_eq!(r["total_outputs"], 2);
    assert_eq!(r["message"], "Job created successfully");
    let job = r["job_id"].as_str().expect("id").to_owned();
    assert_eq!(app.status(DEMO, &job).await["status"], "pending");

    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "completed");
    assert_eq!(st["progress"], 100.0);
    assert_eq!(st["processed_images"], 2);
    let res = app.results(DEMO, &job).await;
    let results = res["results"].as_array().expect("results");
    assert_eq!(results.len(), 2);
    let expected = [
        ((1152, 2048), image::ImageFormat::Jpeg),
        ((1536, 2048), image::ImageFormat::Png),
    ];
    let mut fulls = Vec::new();
    for (r, ((w, h), f)) in results.iter().zip(expected) {
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model_used"], "nano_banana_pro");
        let bytes = app
            .get(r["output"]["full_size"].as_str().expect("url"))
            .send()
            .await
            .expect(200)
            .body;
        let (format, img) = decode(&bytes);
        assert_eq!((format, img.width(), img.height()), (f, w, h));
        let thumb = app
            .get(r["output"]["thumbnail"].as_str().expect("url"))
            .send()
            .await
            .expect(200)
            .body;
        let (_, t) = decode(&thumb);
        assert_eq!(t.width().max(t.height()), 256);
        fulls.push((r["download_filename"].as_str().expect("name").to_owned(), bytes));
    }
    assert_eq!(res["summary"]["successful"], 2);

    let dl = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    let zip = app.get(&dl).send().await.expect(200);
    assert_eq!(zip.content_type(), "application/zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).expect("a zip");
    assert_eq!(archive.len(), 2);
    for (name, bytes) in fulls {
        let mut entry = archive.by_name(&name).expect("entry by download_filename");
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).expect("read");
        assert_eq!(content, bytes.to_vec(), "{name}");
    }
}

/// `POST /flat-2-model` expecting `status`: each detail as `field: message`.
pub(crate) async fn refused_field(app: &TestApp, token: &str, body: Value, status: u16) -> Vec<String> {
    let r = app
        .post("/flat-2-model")
        .token(token)
        .json(body)
        .send()
        .await
        .expect(status);
    r.json()["detail"]
        .as_array()
        .expect("detail")
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["field"].as_str().unwrap_or(""),
                d["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

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
    assert_eq!(app.state.engine.len(), 0, "no refused request made a job");
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
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body)
        .send()
        .await
        .expect(202)
        .json();
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
async fn status_moves_pending_processing_completed_and_stays_consistent() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"num_variations": 2}, {"num_variations": 2}]));
    body["options"] = json!({"use_anchor": false});
    let job = app.create_job(DEMO, body).await;
    let mut seen = Vec::new();
    let mut last_progress = -1.0;
    for _ in 0..400 {
        let st = app.status(DEMO, &job).await;
        let processed = st["processed_images"].as_u64().expect("n");
        let total = st["total_images"].as_u64().expect("n");
        let progress = st["progress"].as_f64().expect("progress is a number");
        assert_eq!(total, 4);
        assert!((progress - (processed as f64) * 100.0 / 4.0).abs() < 0.06, "{st}");
        assert!(progress >= last_progress, "progress never goes back");
        last_progress = progress;
        assert!(st["updated_at"].as_str() >= st["created_at"].as_str());
        let status = st["status"].as_str().expect("s").to_owned();
        match status.as_str() {
            "pending" => assert_eq!(processed, 0),
            "completed" => assert_eq!(processed, 4),
            "processing" => assert!(processed < 4),
            other => panic!("unexpected status {other}"),
        }
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break;
        }
        app.advance(Duration::from_millis(250));
    }
    assert_eq!(seen, ["pending", "processing", "completed"]);
}

#[tokio::test]
async fn with_use_anchor_the_anchor_output_completes_before_the_others_start() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{}, {"num_variations": 2}, {}]));
    body["options"] = json!({"anchor_index": 1});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    let outputs = internal["state"]["outputs"].as_array().expect("outputs");
    let anchor_done = outputs[1]["finished_at"].as_str().expect("anchor finished").to_owned();
    for (k, o) in outputs.iter().enumerate().filter(|(k, _)| *k != 1) {
        assert!(
            o["started_at"].as_str().expect("started") >= anchor_done.as_str(),
            "output {k} started before the anchor finished"
        );
    }
    // Without the anchor, all outputs start together.
    let mut body = TestApp::job_body(&inputs, json!([{}, {}]));
    body["options"] = json!({"use_anchor": false});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    let starts: Vec<&str> = internal["state"]["outputs"]
        .as_array()
        .expect("o")
        .iter()
        .map(|o| o["started_at"].as_str().expect("s"))
        .collect();
    assert_eq!(starts[0], starts[1]);
}

#[tokio::test]
async fn auto_falls_back_to_seedream_when_refused_and_explicit_engines_fail() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let ins = json!([{"prompt": "evening look mock:refuse"}, {"prompt": "plain"}]);
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, ins.clone())).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "completed");
    assert_eq!(res["results"][0]["model_used"], "seedream");
    assert_eq!(res["results"][0]["fallback_used"], true);
    assert_eq!(res["results"][1]["model_used"], "nano_banana_pro");

    let mut body = TestApp::job_body(&inputs, ins.clone());
    body["options"] = json!({"model": "nano_banana_pro"});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "completed", "a partial failure still completes the job");
    assert_eq!(res["results"][0]["status"], "failed");
    assert_eq!(res["results"][0]["error_message"], "content refused by nano_banana_pro");
    assert_eq!(res["results"][0]["output"]["full_size"], Value::Null);
    assert_eq!(res["results"][1]["status"], "completed");
    assert_eq!(res["summary"]["failed"], 1);

    // Every output refused with an explicit engine: the job fails.
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}]));
    body["options"] = json!({"model": "seedream"});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "failed");
    assert!(
        st["error_message"]
            .as_str()
            .expect("msg")
            .contains("content refused by seedream")
    );

    // refuse-all defeats the fallback too; a note marks every output.
    let mut body = TestApp::job_body(&inputs, json!([{}, {}]));
    body["images"] = json!([{"file_id": inputs.file_ids[0], "note": "mock:refuse-all"}]);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "failed");
    assert_eq!(res["results"][1]["model_used"], "seedream");
}

#[tokio::test]
async fn the_legacy_flag_means_seedream() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}, {}]));
    body["options"] = json!({"use_alternative_method": true});
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["processing_options"]["model"], "seedream");
    assert_eq!(
        res["results"][0]["status"], "failed",
        "an explicit engine never falls back"
    );
    assert_eq!(res["results"][1]["model_used"], "seedream");
}

#[tokio::test]
async fn the_legacy_flag_at_the_top_level_means_seedream_too() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{"prompt": "mock:refuse"}, {}]));
    body["use_alternative_method"] = json!(true);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["processing_options"]["model"], "seedream");
    assert_eq!(res["processing_options"]["use_alternative_method"], true);
    assert_eq!(
        res["results"][0]["status"], "failed",
        "an explicit engine never falls back"
    );
    assert_eq!(res["results"][1]["model_used"], "seedream");

    let jobs = app.state.engine.len();
    let with = |flag: Value, options: Value| {
        let mut b = TestApp::job_body(&inputs, json!([{}]));
        b["use_alternative_method"] = flag;
        b["options"] = options;
        b
    };
    for (body, expected) in [
        (
            with(json!(true), json!({"model": "nano_banana_pro"})),
            "use_alternative_method: means model \"seedream\" and conflicts with options.model \"nano_banana_pro\"",
        ),
        (
            with(json!("yes"), json!({})),
            "use_alternative_method: must be a boolean",
        ),
    ] {
        assert_eq!(refused_field(&app, DEMO, body, 400).await, [expected]);
    }
    assert_eq!(app.state.engine.len(), jobs, "a refused request makes no job");
}

#[tokio::test]
async fn an_injected_fault_plan_fails_delays_and_refuses() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{"num_variations": 4}]));
    let plan = r#"{"fail_job_at_progress": 50, "fail_job_message": "GPU on fire"}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.finish_jobs();
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["status"], "failed");
    assert_eq!(res["error_message"], "GPU on fire");
    assert_eq!(res["summary"]["successful"], 2);
    assert_eq!(res["processed_images"], 2, "progress stays where the job stopped");
    assert_eq!(res["progress"], 50.0);
    let aborted = res["results"]
        .as_array()
        .expect("r")
        .iter()
        .filter(|r| r["error_message"] == "job failed: GPU on fire")
        .count();
    assert_eq!(aborted, 2, "the outputs that never ran fail with the job");

    // At 100 the job fails once every output is done, instead of completing.
    let plan = r#"{"fail_job_at_progress": 100}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (st["status"].as_str(), st["processed_images"].as_u64()),
        (Some("failed"), Some(4))
    );

    // Numbers out of range are refused, never a 500.
    for bad in [
        r#"{"delay_outputs": [{"output": 0, "seconds": 1e20}]}"#,
        r#"{"fail_job_at_progress": 150}"#,
        r#"{"fail_outputs": [80]}"#,
    ] {
        let r = app.send_job(DEMO, body.clone(), Some(bad)).await.expect(400);
        assert_eq!(r.error_field().as_deref(), Some("X-Mock-Fault-Plan"), "{bad}");
    }

    let plan = r#"{"delay_outputs": [{"output": 1, "seconds": 600}], "fail_outputs": [0]}"#;
    let job = app.create_job_with_plan(DEMO, body.clone(), plan).await;
    app.advance(Duration::from_secs(120));
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "processing");
    assert_eq!(st["processed_images"], 3, "output 1 is delayed by 10 minutes");
    app.advance(Duration::from_secs(600));
    let res = app.results(DEMO, &job).await;
    assert_eq!(res["results"][0]["status"], "failed");
    assert_eq!(res["status"], "completed");

    let r = app.send_job(DEMO, body, Some("{\"refuse\": 1}")).await.expect(400);
    assert_eq!(r.error_field().as_deref(), Some("X-Mock-Fault-Plan"));
}

#[tokio::test]
async fn post_processing_runs_after_generation() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let mut body = TestApp::job_body(&inputs, json!([{}]));
    body["post_process"] = json!(true);
    let job = app.create_job(DEMO, body.clone()).await;
    let st = app.status(DEMO, &job).await;
    assert_eq!(
        (
            st["should_post_process"].as_bool(),
            st["post_processing_status"].as_str()
        ),
        (Some(true), Some("pending"))
    );
    let mut seen = vec!["pending".to_owned()];
    for _ in 0..200 {
        app.advance(Duration::from_millis(250));
        let st = app.status(DEMO, &job).await;
        let pp = st["post_processing_status"].as_str().expect("pp").to_owned();
        if pp == "processing" {
            assert_eq!(st["progress"], 100.0, "post-processing starts after generation");
            assert_eq!(
                st["status"], "processing",
                "completed is announced once, after post-processing"
            );
        }
        if pp == "completed" {
            assert_eq!(st["status"], "completed");
        }
        if seen.last() != Some(&pp) {
            seen.push(pp.clone());
        }
        if pp == "completed" {
            break;
        }
    }
    assert_eq!(seen, ["pending", "processing", "completed"]);

    body["instructions"] = json!([{"prompt": "mock:fail-post-processing"}]);
    let job = app.create_job(DEMO, body).await;
    app.finish_jobs();
    let st = app.status(DEMO, &job).await;
    assert_eq!(st["status"], "completed");
    assert_eq!(st["post_processing_status"], "failed");
    assert_eq!(st["post_processing_error"], "post-processing failed");

    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    assert_eq!(app.status(DEMO, &job).await["post_processing_status"], Value::Null);
}

#[tokio::test]
async fn the_watermark_is_baked_into_outputs_and_thumbnails() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    for (watermark, format) in [(true, "jpg"), (true, "png"), (false, "jpg")] {
        let mut body = TestApp::job_body(&inputs, json!([{"options": {"format": format}}]));
        body["options"] = json!({"add_ai_watermark": watermark});
        let job = app.create_job(DEMO, body).await;
        app.finish_jobs();
        let res = app.results(DEMO, &job).await;
        for kind in ["full_size", "thumbnail"] {
            let bytes = app
                .get(res["results"][0]["output"][kind].as_str().expect("url"))
                .send()
                .await
                .expect(200)
                .body;
            let (_, img) = decode(&bytes);
            assert_eq!(mock_server::render::has_watermark(&img), watermark, "{format} {kind}");
        }
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_picture_and_instructions_differ() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let ins = json!([{"background": "beach", "seed": 5}, {"background": "city", "seed": 5}]);
    let a = app.create_job(DEMO, TestApp::job_body(&inputs, ins.clone())).await;
    let b = app.create_job(DEMO, TestApp::job_body(&inputs, ins)).await;
    app.finish_jobs();
    let (a, b) = (app.output_images(DEMO, &a).await, app.output_images(DEMO, &b).await);
    assert_eq!(a, b, "same inputs and seeds, same bytes");
    assert_ne!(a[0], a[1], "different instructions look different");
}

#[tokio::test]
async fn time_scale_zero_makes_jobs_instant() {
    let app = TestApp::spawn_with(|c| c.time_scale = 0.0).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
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
        .post("/download")
        .token(OTHER)
        .json(json!({"job_id": job}))
        .send()
        .await
        .expect(404);
    assert_eq!(r.error_field().as_deref(), Some("job_id"));
    app.get("/jobs/job_nope/status").token(DEMO).send().await.expect(404);
}

#[tokio::test]
async fn downloads_need_a_completed_job_and_links_expire() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}]))).await;
    let r = app
        .post("/download")
        .token(DEMO)
        .json(json!({"job_id": job}))
        .send()
        .await
        .expect(409);
    assert_eq!(r.error_field().as_deref(), Some("job_id"));
    app.post("/download")
        .token(DEMO)
        .json(json!({"job_id": "job_unknown"}))
        .send()
        .await
        .expect(404);
    app.finish_jobs();
    let dl = app
        .post("/download")
        .token(DEMO)
        .json(json!({"job_id": job}))
        .send()
        .await
        .expect(200)
        .json();
    let url = dl["download_url"].as_str().expect("url").to_owned();
    app.get(&url).send().await.expect(200);
    app.advance(Duration::from_secs(3600));
    assert_eq!(
        app.get(&url).send().await.expect(410).error_field().as_deref(),
        Some("token")
    );
    app.get("/download/dl_forged").send().await.expect(404);

    let second = app
        .create_job(DEMO, TestApp::job_body(&inputs, json!([{"num_variations": 2}])))
        .await;
    app.finish_jobs();
    let dl = app
        .zip_link(DEMO, "/download/bulk", json!({"job_ids": [job, second]}))
        .await;
    let zip = app.get(&dl).send().await.expect(200);
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip.body.to_vec())).expect("zip");
    let mut names: Vec<&str> = archive.file_names().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            format!("{job}/output_0_0_v0.jpg"),
            format!("{second}/output_0_0_v0.jpg"),
            format!("{second}/output_0_1_v0.jpg")
        ]
    );
    app.post("/download/bulk")
        .token(DEMO)
        .json(json!({"job_ids": []}))
        .send()
        .await
        .expect(400);
}

#[tokio::test]
async fn the_control_api_shows_and_completes_a_job() {
    let app = TestApp::spawn().await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let job = app.create_job(DEMO, TestApp::job_body(&inputs, json!([{}, {}]))).await;
    let internal = app.get(&format!("/__admin/jobs/{job}")).send().await.expect(200).json();
    assert_eq!(internal["status"]["status"], "pending");
    assert!(internal["schedule"]["events"].as_array().expect("events").len() >= 6);
    let done = app
        .post(&format!("/__admin/jobs/{job}/complete"))
        .send()
        .await
        .expect(200)
        .json();
    assert_eq!(done["status"]["status"], "completed");
    assert_eq!(app.status(DEMO, &job).await["status"], "completed");
    app.post("/__admin/jobs/job_nope/complete").send().await.expect(404);
}

#[tokio::test]
async fn job_creation_is_rate_limited_per_account() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 2).await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let body = TestApp::job_body(&inputs, json!([{}]));
    app.create_job(DEMO, body.clone()).await;
    app.advance(Duration::from_secs(20));
    app.create_job(DEMO, body.clone()).await;
    let r = app
        .post("/flat-2-model")
        .token(DEMO)
        .json(body.clone())
        .send()
        .await
        .expect(429);
    assert_eq!(r.headers["retry-after"], "40");
    let other = app.job_inputs(OTHER, 1).await;
    app.create_job(OTHER, TestApp::job_body(&other, json!([{}]))).await;
    app.advance(Duration::from_secs(40));
    app.create_job(DEMO, body).await;
}

#[tokio::test]
async fn every_request_counts_against_the_rate_limit_and_it_is_checked_first() {
    // The vendor's 5 a minute; bodies up to 1 KiB, so a 413 is cheap.
    let app = TestApp::spawn_with(|c| {
        c.job_rate_limit = 5;
        c.max_body_bytes = 1024;
    })
    .await;
    let inputs = app.job_inputs(DEMO, 1).await;
    let valid = TestApp::job_body(&inputs, json!([{}]));
    let mut unknown = valid.clone();
    unknown["identity_code"] = json!("nobody");
    let post = || app.post("/flat-2-model").token(DEMO);
    // Unauthenticated: 401, counted for nobody.
    for _ in 0..6 {
        app.post("/flat-2-model").json(valid.clone()).send().await.expect(401);
    }
    // Five refused requests, each for another reason.
    post().json(json!({})).send().await.expect(400);
    post()
        .bytes("application/json", b"{\"images\": [".to_vec())
        .send()
        .await
        .expect(400);
    post().json(unknown).send().await.expect(404);
    post().bytes("text/plain", b"{}".to_vec()).send().await.expect(415);
    post().json(json!({"pad": "x".repeat(2000)})).send().await.expect(413);
    // The sixth request within the minute: 429, valid or not.
    let r = post().json(valid.clone()).send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "60");
    let r = post()
        .bytes("text/plain", b"not json".to_vec())
        .send()
        .await
        .expect(429);
    assert_eq!(r.json()["error"], "Too many requests");
    // Another account is unaffected.
    let other = app.job_inputs(OTHER, 1).await;
    app.create_job(OTHER, TestApp::job_body(&other, json!([{}]))).await;
    // A minute later the window is empty again.
    app.advance(Duration::from_secs(60));
    app.create_job(DEMO, valid).await;
    let jobs = app.state.engine.len();
    assert_eq!(jobs, 2, "the refused requests made no job");
}

#[tokio::test]
async fn the_rate_limit_window_slides_on_the_clock() {
    let app = TestApp::spawn_with(|c| c.job_rate_limit = 5).await;
    let post = || app.post("/flat-2-model").token(DEMO).json(json!({}));
    // Two at 0 s, three at 30 s: full until the first two are 60 s old.
    for _ in 0..2 {
        post().send().await.expect(400);
    }
    app.advance(Duration::from_secs(30));
    for _ in 0..3 {
        post().send().await.expect(400);
    }
    app.advance(Duration::from_millis(29_999));
    let r = post().send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "1");
    app.advance(Duration::from_millis(1));
    // 60 s after the first two: two places, and the next waits for the
    // three made at 30 s.
    for _ in 0..2 {
        post().send().await.expect(400);
    }
    let r = post().send().await.expect(429);
    assert_eq!(r.headers["retry-after"], "30");
}

#[tokio::test]
async fn retry_after_on_the_rate_limit_can_be_left_out_as_the_vendor_documents() {
    let app = TestApp::spawn_with(|c| {
        c.job_rate_limit = 1;
        c.rate_limit_retry_after = false;
    })
    .await;
    let post = || app.post("/flat-2-model").token(DEMO).json(json!({}));
    post().send().await.expect(400);
    for _ in 0..2 {
        let r = post().send().await.expect(429);
        assert!(r.headers.get("retry-after").is_none(), "{:?}", r.headers);
        assert_eq!(r.json()["error"], "Too many requests");
    }
    // Without the header the journal cannot say the client ignored it.
    let v = app.journal_verify(json!({"path": "/flat-2-model"})).await;
    assert_eq!(v["ignored_retry_after"], 0);
}
