//! The documented rules of `POST /flat-2-model` that a JSON Schema cannot
//! state (`job-create-request.json` lists them in its description), checked
//! offline on a request the schema already accepts. The harness keeps its
//! own copy of these rules on purpose: it judges servers, the fake among
//! them, so it must not borrow the fake's parser. The fake's property tests
//! check that the two agree.
//!
//! Rules that need an account (the `OUTPUT_CUSTOM_DIMENSIONS` policy, saved
//! Design Value indexes, which identity, project and files exist) are left
//! to the server.

use serde_json::Value;

use crate::Violation;

/// The instruction fields and image notes whose text may hold newline and
/// tab but no other control character.
const FREE_TEXT: &[&str] = &[
    "pose",
    "expression",
    "mood",
    "camera",
    "lighting",
    "background",
    "style",
    "color_palette",
    "angle",
    "prompt",
    "preset_name",
];

/// The rules of a job request beyond its schema, each with the field path
/// the server names.
pub fn job_request(body: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let instructions = body.get("instructions").and_then(Value::as_array);
    if let (Some(list), Some(anchor)) = (
        instructions,
        body.pointer("/options/anchor_index").and_then(Value::as_u64),
    ) && anchor >= list.len() as u64
    {
        out.push(violation(
            "options.anchor_index",
            format!(
                "must satisfy 0 <= anchor_index < {} (the number of instructions)",
                list.len()
            ),
        ));
    }
    for (i, ins) in instructions.into_iter().flatten().enumerate() {
        let (w, h) = (
            ins.pointer("/options/width").and_then(Value::as_u64),
            ins.pointer("/options/height").and_then(Value::as_u64),
        );
        if let (Some(w), Some(h)) = (w, h)
            && (w > 4 * h || h > 4 * w)
        {
            out.push(violation(
                &format!("instructions[{i}].options.width"),
                format!("width/height ratio {w}:{h} must be between 1:4 and 4:1"),
            ));
        }
        for field in FREE_TEXT {
            for (path, text) in texts(ins.get(*field), &format!("instructions[{i}].{field}")) {
                if has_control(text) {
                    out.push(violation(&path, "must not contain control characters".into()));
                }
            }
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, img) in body
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let id = img.as_str().or_else(|| img.get("file_id").and_then(Value::as_str));
        if let Some(note) = img.get("note").and_then(Value::as_str)
            && has_control(note)
        {
            out.push(violation(
                &format!("images[{i}].note"),
                "must not contain control characters".into(),
            ));
        }
        let Some(id) = id else { continue };
        match seen.iter().position(|s| *s == id) {
            Some(first) => out.push(violation(
                &format!("images[{i}]"),
                format!("duplicate file ID (also images[{first}])"),
            )),
            None => seen.push(id),
        }
    }
    out
}

fn violation(field: &str, message: String) -> Violation {
    Violation {
        field: Some(field.to_owned()),
        message,
    }
}

/// Control characters other than newline and tab.
fn has_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// The strings inside a Design Value (a string, or an object of strings
/// such as `{text, image}` or `{framing, angle, lens, aperture}`), with
/// their paths.
fn texts<'a>(v: Option<&'a Value>, path: &str) -> Vec<(String, &'a str)> {
    match v {
        Some(Value::String(s)) => vec![(path.to_owned(), s.as_str())],
        Some(Value::Object(o)) => o
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (format!("{path}.{k}"), s)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        job_request(&body).into_iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_request_within_every_rule_has_no_violation() {
        let body = json!({
            "identity_code": "id_1", "project_id": "p", "images": ["a", {"file_id": "b", "note": "tucked\tin\n"}],
            "instructions": [{"pose": "walking", "options": {"width": 1024, "height": 256}}, {}],
            "options": {"anchor_index": 1}
        });
        assert!(fields(body).is_empty());
    }

    #[test]
    fn each_rule_names_its_field() {
        let body = json!({
            "images": ["a", {"file_id": "a"}, {"file_id": "c", "note": "x\u{1b}[31m"}],
            "instructions": [
                {"options": {"width": 2048, "height": 256}},
                {"camera": {"framing": "full\u{0}body"}, "prompt": "line\rbreak"}
            ],
            "options": {"anchor_index": 2}
        });
        assert_eq!(
            fields(body),
            [
                "options.anchor_index: must satisfy 0 <= anchor_index < 2 (the number of instructions)",
                "instructions[0].options.width: width/height ratio 2048:256 must be between 1:4 and 4:1",
                "instructions[1].camera.framing: must not contain control characters",
                "instructions[1].prompt: must not contain control characters",
                "images[1]: duplicate file ID (also images[0])",
                "images[2].note: must not contain control characters",
            ]
        );
    }

    #[test]
    fn the_ratio_bounds_are_inclusive() {
        let at = |w: u64, h: u64| fields(json!({"instructions": [{"options": {"width": w, "height": h}}]}));
        assert!(at(1024, 256).is_empty());
        assert!(at(256, 1024).is_empty());
        assert_eq!(at(1032, 256).len(), 1);
        assert_eq!(at(256, 1032).len(), 1);
    }
}
