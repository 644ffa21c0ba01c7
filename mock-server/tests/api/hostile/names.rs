//! Control characters in names and notes are refused; path-like names
//! are data, never paths, ZIP entries or headers.

use super::*;

/// Checks that no header of `r` carries anything a client wrote.
fn headers_are_clean(case: &str, r: &Resp) {
    for (k, v) in &r.headers {
        let v = String::from_utf8_lossy(v.as_bytes());
        for hostile in ["..", "passwd", "\\", "\u{1b}"] {
            assert!(!v.contains(hostile), "{case}: header {k}: {v}");
        }
    }
}

#[tokio::test]
async fn control_characters_in_names_and_notes_are_refused() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let file = w.files[0]["file_id"].clone();
    let mut cases: Vec<(String, Call<'_>, Want)> = Vec::new();
    for (what, bad) in [
        ("a NUL", "a\0b"),
        ("CR LF", "a\r\nX-Injected: 1"),
        ("an ANSI escape", "\u{1b}[31mred\u{1b}[0m"),
    ] {
        cases.push((
            format!("{what} in a project name"),
            app.post("/project").token(DEMO).json(json!({"project_name": bad})),
            Api(400, Some("project_name")),
        ));
        cases.push((
            format!("{what} in the project_name of an upload"),
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": "a.png", "project_name": bad})),
            Api(400, Some("project_name")),
        ));
        cases.push((
            format!("{what} in an upload filename"),
            app.post("/upload")
                .token(DEMO)
                .json(json!({"filename": format!("{bad}.png")})),
            Api(400, Some("filename")),
        ));
        cases.push((
            format!("{what} in an identity name"),
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(90, "name", bad)),
            Api(400, Some("name")),
        ));
        cases.push((
            format!("{what} in a tag"),
            app.post("/identity/upload")
                .token(DEMO)
                .multipart(form_with(91, "tag", bad)),
            Api(400, Some("tag")),
        ));
        let mut b = w.job_body();
        b["images"] = json!([{"file_id": file, "note": bad}]);
        cases.push((
            format!("{what} in an image note"),
            app.post("/flat-2-model").token(DEMO).json(b),
            Api(400, Some("images[0].note")),
        ));
        let mut b = w.job_body();
        b["instructions"] = json!([{"prompt": bad}]);
        cases.push((
            format!("{what} in a prompt"),
            app.post("/flat-2-model").token(DEMO).json(b),
            Api(400, Some("instructions[0].prompt")),
        ));
        cases.push((
            format!("{what} in a webhook URL"),
            app.put("/webhooks")
                .token(DEMO)
                .json(json!({"url": format!("http://example.com/{bad}")})),
            Api(400, Some("url")),
        ));
    }
    // Multipart file names carry raw bytes: NUL and ESC (which the part
    // header parser refuses already) and a C1 control written in UTF-8.
    for (what, name) in [
        ("a NUL", &b"a\0b.png"[..]),
        ("an ANSI escape", &b"\x1b[2Jx.png"[..]),
        ("a C1 control (CSI)", &b"\xc2\x9b31mx.png"[..]),
    ] {
        let mut body = part("image", Some(name), &image(64, 64, ImageFormat::Png, 92));
        body.extend(closing());
        cases.push((
            format!("{what} in an image file name"),
            app.post("/identity/upload").token(DEMO).bytes(&multipart_type(), body),
            Api(400, Some("image")),
        ));
    }
    for (case, call, want) in cases {
        w.refuse(&case, call, want).await;
    }
}

/// Path-like names are data: stored and echoed verbatim, never a file
/// path, a ZIP entry name or a header.
#[tokio::test]
async fn path_like_names_are_data_never_paths_zip_entries_or_headers() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    let traversal = [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/passwd",
        "C:\\boot.ini",
    ];
    for name in traversal {
        let r = app
            .post("/project")
            .token(DEMO)
            .json(json!({"project_name": name}))
            .send()
            .await
            .expect(201);
        assert_eq!(r.json()["project_name"], name);
        headers_are_clean(name, &r);
    }
    let projects = app.projects(DEMO).await;
    for name in traversal {
        assert!(
            projects["projects"]
                .as_array()
                .expect("projects")
                .iter()
                .any(|p| p["project_text"] == name),
            "{name} listed verbatim"
        );
    }

    let up = app
        .post("/upload")
        .token(DEMO)
        .json(json!({"filename": "../../etc/passwd.png", "project_name": "../../etc/passwd"}))
        .send()
        .await
        .expect(200);
    headers_are_clean("upload", &up);
    let up = up.json();
    assert_eq!(up["filename"], "../../etc/passwd.png");
    let id = str_of(&up["file_id"]);
    assert!(
        id.starts_with("sku_") && id[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    for (key, path) in [("upload_url", "/upload/"), ("download_url", "/blobs/files/")] {
        let url = str_of(&up[key]);
        assert!(url.starts_with(&format!("{}{path}{id}?", app.base)), "{url}");
        assert!(!url.contains("passwd") && !url.contains(".."), "{url}");
    }
    let bytes = image(64, 80, ImageFormat::Png, 100);
    let put = app
        .put(str_of(&up["upload_url"]))
        .bytes("image/png", bytes.clone())
        .send()
        .await
        .expect(200);
    headers_are_clean("put", &put);
    let got = app.get(str_of(&up["download_url"])).send().await.expect(200);
    headers_are_clean("download", &got);
    assert_eq!(got.body.as_ref(), bytes.as_slice());

    let form = Form::new()
        .part(
            "image",
            Part::bytes(image(160, 200, ImageFormat::Jpeg, 101)).file_name("../../../etc/passwd.jpg"),
        )
        .text("name", "..\\..\\boot.ini")
        .text("tag", "/etc/shadow");
    let idn = app.send_identity_form(DEMO, form).await.expect(200);
    headers_are_clean("identity", &idn);
    let idn = idn.json();
    assert_eq!(idn["original_filename"], "../../../etc/passwd.jpg");
    assert_eq!(
        (idn["name"].as_str(), idn["tag"].as_str()),
        (Some("..\\..\\boot.ini"), Some("/etc/shadow"))
    );
    let code = str_of(&idn["identity_code"]);
    assert!(str_of(&idn["link"]).starts_with(&format!("{}/blobs/identities/{code}?", app.base)));
    // Without a name, the default name is the file name's stem, also data.
    let form = Form::new().part(
        "image",
        Part::bytes(image(160, 200, ImageFormat::Jpeg, 102)).file_name("../../evil.jpg"),
    );
    let r = app.send_identity_form(DEMO, form).await.expect(200);
    assert_eq!(r.json()["name"], "../../evil");
    // Windows-style names keep their backslashes: reqwest sends each one
    // escaped as `\\` in the quoted filename, and it is stored once (multer
    // alone kept it doubled, and misread a name ending in a backslash).
    for (salt, sent, stem) in [
        (103, "..\\..\\win.ini", "..\\..\\win"),
        (104, "C:\\temp\\", "C:\\temp\\"),
        (105, "say \"cheese\".jpg", "say \"cheese\""),
    ] {
        let form = Form::new().part(
            "image",
            Part::bytes(image(160, 200, ImageFormat::Jpeg, salt)).file_name(sent),
        );
        let r = app.send_identity_form(DEMO, form).await.expect(200);
        headers_are_clean(sent, &r);
        let idn = r.json();
        assert_eq!(idn["original_filename"], sent, "echoed unchanged");
        assert_eq!(idn["name"], stem);
        let code = str_of(&idn["identity_code"]);
        let link = str_of(&idn["link"]);
        assert!(
            link.starts_with(&format!("{}/blobs/identities/{code}?", app.base)),
            "{link}"
        );
        for part in ["..", "win", "temp", "cheese", "%5C", "\\"] {
            assert!(!link.contains(part), "{link}");
        }
        let listed = app
            .get(&format!("/identity/{code}"))
            .token(DEMO)
            .send()
            .await
            .expect(200);
        assert_eq!(listed.json()["original_filename"], sent);
    }

    let body = json!({
        "identity_code": code,
        "project_id": w.project_id,
        "images": [{"file_id": id, "note": "../../../../tmp/x"}, w.files[1]["file_id"]],
        "instructions": [
            {"prompt": "../../etc", "preset_name": "/etc/passwd", "category_names": ["../", "..\\"]},
            {"num_variations": 2, "options": {"format": "png"}},
        ],
    });
    let job = app.create_job(DEMO, body).await;
    let other = app.create_job(DEMO, w.job_body()).await;
    app.finish_jobs();
    let results = app.results(DEMO, &job).await;
    let entry_name = |name: &str| {
        let (stem, ext) = name.rsplit_once('.').expect("an extension");
        let parts: Vec<&str> = stem.split('_').collect();
        matches!(ext, "jpg" | "png")
            && parts.len() == 4
            && parts[0] == "output"
            && parts[1..3]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            && parts[3] == "v0"
    };
    let mut expected = Vec::new();
    for r in results["results"].as_array().expect("results") {
        let name = str_of(&r["download_filename"]);
        assert!(entry_name(name), "{name}");
        expected.push(name.to_owned());
        // The output's own name, built from indexes, never the upload's.
        assert_eq!(
            str_of(&r["original_filename"]),
            name.replacen("_v0.", ".", 1),
            "named by the fake"
        );
        assert_eq!(r["inputs"][0]["note"], "../../../../tmp/x");
        for kind in ["full_size", "thumbnail"] {
            let url = str_of(&r["output"][kind]);
            assert!(!url.contains("..") && !url.contains("passwd"), "{url}");
        }
    }
    expected.sort();
    assert_eq!(expected.len(), 3);

    let link = app.zip_link(DEMO, "/download", json!({"job_id": job})).await;
    let zip = app.get(&link).send().await.expect(200);
    headers_are_clean("zip", &zip);
    assert_eq!(
        zip.headers["content-disposition"].to_str().expect("ascii"),
        format!("attachment; filename=\"{job}.zip\"")
    );
    let mut archive = zip::ZipArchive::new(Cursor::new(zip.body.to_vec())).expect("a zip");
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(names, expected, "the ZIP's entries are the fake's own names");
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        assert!(entry.enclosed_name().is_some(), "{}", entry.name());
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read");
        assert!(!content.is_empty());
    }

    let link = app
        .zip_link(DEMO, "/download/bulk", json!({"job_ids": [job, other]}))
        .await;
    let zip = app.get(&link).send().await.expect(200);
    headers_are_clean("bulk zip", &zip);
    let archive = zip::ZipArchive::new(Cursor::new(zip.body.to_vec())).expect("a zip");
    assert_eq!(archive.len(), 4);
    for name in archive.file_names() {
        let (dir, file) = name.split_once('/').expect("{job_id}/{file}");
        assert!(dir == job || dir == other, "{name}");
        assert!(entry_name(file), "{name}");
    }
}
