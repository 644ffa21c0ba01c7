//! Rendering: one output (composition, thumbnail, encoding) against the
//! image crate's bare JPEG encode of the same pixels at the same quality,
//! in this process, best of a few runs.

use std::time::{Duration, Instant};

use crate::client::{IDENTITY_JPG, SHIRT_JPG};
use ::render::{Inputs, JPEG_QUALITY, OutputFormat, OutputSpec, render_inputs};
use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

const PANTS_PNG: &[u8] = include_bytes!("../../fixtures/images/sku-pants.png");

/// What the render run measured.
#[derive(Debug, Clone)]
pub struct RenderRun {
    /// Side of the square output.
    pub side: u32,
    /// The fake's render of one output, best of `runs`.
    pub render: Duration,
    /// The bare encode, best of `runs`.
    pub bare: Duration,
    /// Runs of each.
    pub runs: usize,
    /// Encoded size of the output.
    pub bytes: usize,
}

impl RenderRun {
    /// render ÷ bare encode.
    pub fn ratio(&self) -> f64 {
        self.render.as_secs_f64() / self.bare.as_secs_f64()
    }
}

/// Renders a `side`×`side` JPEG `runs` times, and bare-encodes its pixels as
/// often.
pub fn run(side: u32, runs: usize) -> Result<RenderRun, String> {
    let garments = [Bytes::from_static(SHIRT_JPG), Bytes::from_static(PANTS_PNG)];
    let inputs = Inputs::decode(IDENTITY_JPG, &garments).map_err(|e| e.to_string())?;
    let spec = OutputSpec {
        width: side,
        height: side,
        format: OutputFormat::Jpeg,
        style_key: 7,
        watermark: false,
    };
    let mut render = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = render_inputs(&spec, &inputs).map_err(|e| e.to_string())?;
        render = render.min(t.elapsed());
        out = Some(r);
    }
    let out = out.ok_or("no runs")?;
    // The same pixels the fake drew, so both encoders see the same content.
    let pixels = image::load_from_memory(&out.full).map_err(|e| e.to_string())?.to_rgb8();
    let mut bare = Duration::MAX;
    for _ in 0..runs {
        let mut buf = Vec::with_capacity(pixels.len() / 4);
        let t = Instant::now();
        JpegEncoder::new_with_quality(&mut buf, JPEG_QUALITY)
            .write_image(pixels.as_raw(), side, side, ExtendedColorType::Rgb8)
            .map_err(|e| e.to_string())?;
        bare = bare.min(t.elapsed());
        std::hint::black_box(&buf);
    }
    Ok(RenderRun {
        side,
        render,
        bare,
        runs,
        bytes: out.full.len(),
    })
}
