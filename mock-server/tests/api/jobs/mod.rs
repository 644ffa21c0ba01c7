//! `POST /flat-2-model` and the job engine on the manual clock.
//!
//! Suites: `rules`, `lifecycle`, `engines`, `results`, `rate_limit`.

mod engines;
mod lifecycle;
mod rate_limit;
mod results;
mod rules;

use serde_json::{Value, json};

use crate::helpers::TestApp;

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
