//! Real output images for fake jobs.
//!
//! [`render`] composes a plausible "model wearing the garments" mock-up from the job's own inputs: a
//! vertical gradient background with a few accent shapes (all derived from [`RenderRequest::style_key`]),
//! the identity image scaled into a framed portrait in the upper part, and the garments scaled into a row
//! (or grid) of equal tiles below it. Optionally an "AI-GENERATED" disclosure mark is baked into the
//! bottom-right corner of the output and of its thumbnail. Everything is deterministic: the same request
//! gives byte-identical output.

mod canvas;
mod font;
mod resample;
mod watermark;

use std::fmt;
use std::io::Cursor;

use bytes::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageReader, RgbImage, RgbaImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use canvas::Rgb;

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    Jpeg,
    Png,
}

impl OutputFormat {
    /// The MIME type: `image/jpeg` or `image/png`.
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }

    /// The file extension, without the dot: `jpg` or `png`.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
        }
    }
}

/// Long side of every thumbnail, in pixels (the other side keeps the aspect ratio, at least 1 px).
pub const THUMBNAIL_LONG_SIDE: u32 = 256;

/// Largest accepted output side, in pixels (the API's sizes go up to 7000).
pub const MAX_SIDE: u32 = 16_384;

/// JPEG quality of outputs and thumbnails.
pub const JPEG_QUALITY: u8 = 90;

/// What one output image is composed from.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    /// The identity (model) image, encoded (JPEG, PNG or WebP bytes).
    pub identity: Bytes,
    /// The flat-lay garment images, encoded; 1–10 of them (any number is drawn, none leaves the row empty).
    pub garments: Vec<Bytes>,
    /// Derived by the caller from the instruction's descriptors, the seed and the variation:
    /// different keys give visibly different pictures (background colours / layout accents).
    pub style_key: u64,
    /// Bake an "AI-GENERATED" disclosure mark into the bottom-right corner of the output AND of its thumbnail.
    pub watermark: bool,
}

/// An encoded output and its thumbnail (same format as the output).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub full: Bytes,
    pub thumbnail: Bytes,
    pub content_type: &'static str,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
}

/// Why an output could not be rendered (undecodable input, unsupported size, encoder failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError(pub String);

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "render failed: {}", self.0)
    }
}

impl std::error::Error for RenderError {}

/// The size of one output, apart from its inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSpec {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// File format.
    pub format: OutputFormat,
    /// See [`RenderRequest::style_key`].
    pub style_key: u64,
    /// See [`RenderRequest::watermark`].
    pub watermark: bool,
}

/// The longest side an input keeps once decoded: inputs are drawn into
/// tiles and a portrait area, so more pixels would only cost memory.
pub const INPUT_MAX_SIDE: u32 = 1024;

/// A job's inputs, decoded once and shrunk to [`INPUT_MAX_SIDE`], shared by
/// all of its outputs.
pub struct Inputs {
    identity: Source,
    garments: Vec<Source>,
}

impl fmt::Debug for Inputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inputs")
            .field("identity", &self.identity.dimensions())
            .field("garments", &self.garments.len())
            .finish()
    }
}

impl Inputs {
    /// Decodes and shrinks the identity and garment images.
    pub fn decode(identity: &[u8], garments: &[Bytes]) -> Result<Self, RenderError> {
        let identity = decode(identity).map_err(|e| RenderError(format!("identity image: {e}")))?;
        let garments = garments
            .iter()
            .enumerate()
            .map(|(i, bytes)| decode(bytes).map_err(|e| RenderError(format!("garment image {}: {e}", i + 1))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { identity, garments })
    }
}

/// Composes and encodes one output. Pure and deterministic: the same request gives byte-identical output.
/// CPU-bound: callers run it on a blocking thread.
pub fn render(req: &RenderRequest) -> Result<Rendered, RenderError> {
    let spec = OutputSpec {
        width: req.width,
        height: req.height,
        format: req.format,
        style_key: req.style_key,
        watermark: req.watermark,
    };
    check_size(req.width, req.height)?;
    render_inputs(&spec, &Inputs::decode(&req.identity, &req.garments)?)
}

fn check_size(width: u32, height: u32) -> Result<(), RenderError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(RenderError(format!(
            "unsupported output size {width}x{height} (1..={MAX_SIDE} per side)"
        )));
    }
    Ok(())
}

/// Like [`render`], from inputs already decoded (once per job).
pub fn render_inputs(spec: &OutputSpec, inputs: &Inputs) -> Result<Rendered, RenderError> {
    let (width, height) = (spec.width, spec.height);
    check_size(width, height)?;
    let (identity, garments) = (&inputs.identity, &inputs.garments);
    let mut full = compose(width, height, &Style::from_key(spec.style_key), identity, garments);
    let (thumbnail_width, thumbnail_height) = thumbnail_size(width, height);
    let mut thumbnail = if (thumbnail_width, thumbnail_height) == (width, height) {
        full.clone()
    } else {
        resample::resize::<_, 3>(&full, thumbnail_width, thumbnail_height)
    };
    if spec.watermark {
        watermark::draw(&mut full);
        watermark::draw(&mut thumbnail);
    }
    Ok(Rendered {
        full: encode(&full, spec.format)?,
        thumbnail: encode(&thumbnail, spec.format)?,
        content_type: spec.format.content_type(),
        thumbnail_width,
        thumbnail_height,
    })
}

/// The rectangle (x, y, w, h) that the watermark occupies in an image of width x height
/// (bottom-right corner, with a margin; scales with the image).
pub fn watermark_rect(width: u32, height: u32) -> (u32, u32, u32, u32) {
    let l = watermark::layout(width, height);
    (l.x, l.y, l.w, l.h)
}

/// Whether the image (decoded RGB) carries the watermark: every font cell inside [`watermark_rect`] must
/// be light where the font is lit and dark elsewhere (with a tolerance for JPEG compression).
pub fn has_watermark(img: &RgbImage) -> bool {
    watermark::detect(img)
}

/// The thumbnail's size for an output of `width` x `height`: long side [`THUMBNAIL_LONG_SIDE`].
fn thumbnail_size(width: u32, height: u32) -> (u32, u32) {
    let (long, short) = (u64::from(width.max(height)), u64::from(width.min(height)));
    let scaled = (short * u64::from(THUMBNAIL_LONG_SIDE) + long / 2) / long.max(1);
    let scaled = u32::try_from(scaled)
        .unwrap_or(THUMBNAIL_LONG_SIDE)
        .clamp(1, THUMBNAIL_LONG_SIDE);
    if width >= height {
        (THUMBNAIL_LONG_SIDE, scaled)
    } else {
        (scaled, THUMBNAIL_LONG_SIDE)
    }
}

fn encode(img: &RgbImage, format: OutputFormat) -> Result<Bytes, RenderError> {
    let (w, h) = img.dimensions();
    let mut out = Vec::with_capacity((w as usize * h as usize / 4).max(1024));
    let result = match format {
        OutputFormat::Jpeg => JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).write_image(
            img.as_raw(),
            w,
            h,
            ExtendedColorType::Rgb8,
        ),
        OutputFormat::Png => PngEncoder::new_with_quality(&mut out, CompressionType::Fast, PngFilter::Adaptive)
            .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8),
    };
    result.map_err(|e| RenderError(format!("encoding {w}x{h} {}: {e}", format.extension())))?;
    Ok(Bytes::from(out))
}

/// A decoded input; images with an alpha channel are blended onto the canvas, others copied.
enum Source {
    Rgb(RgbImage),
    Rgba(RgbaImage),
}

impl Source {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Source::Rgb(i) => i.dimensions(),
            Source::Rgba(i) => i.dimensions(),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<Source, String> {
    let img = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .decode()
        .map_err(|e| e.to_string())?;
    if img.width() == 0 || img.height() == 0 {
        return Err("empty image".to_owned());
    }
    let (w, h) = (img.width(), img.height());
    let img = if w.max(h) > INPUT_MAX_SIDE {
        let (tw, th) = fit(w, h, INPUT_MAX_SIDE, INPUT_MAX_SIDE);
        img.thumbnail_exact(tw, th)
    } else {
        img
    };
    Ok(if img.color().has_alpha() {
        Source::Rgba(img.into_rgba8())
    } else {
        Source::Rgb(img.into_rgb8())
    })
}

/// The largest size with the aspect ratio of `src_w` x `src_h` that fits in `max_w` x `max_h` (>= 1 px).
fn fit(src_w: u32, src_h: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    let scale = (f64::from(max_w) / f64::from(src_w)).min(f64::from(max_h) / f64::from(src_h));
    let w = (f64::from(src_w) * scale).round() as u32;
    let h = (f64::from(src_h) * scale).round() as u32;
    (w.clamp(1, max_w.max(1)), h.clamp(1, max_h.max(1)))
}

/// Draws `src` scaled to fit (aspect preserved) and centred in the box (`x`, `y`, `w`, `h`).
fn draw_fitted(img: &mut RgbImage, src: &Source, x: u32, y: u32, w: u32, h: u32) {
    if w == 0 || h == 0 {
        return;
    }
    let (sw, sh) = src.dimensions();
    let (nw, nh) = fit(sw, sh, w, h);
    draw_scaled(img, src, x + (w - nw) / 2, y + (h - nh) / 2, nw, nh);
}

/// Draws `src` scaled to exactly `w` x `h` at (`x`, `y`).
fn draw_scaled(img: &mut RgbImage, src: &Source, x: u32, y: u32, w: u32, h: u32) {
    match src {
        Source::Rgb(s) if s.dimensions() == (w, h) => canvas::blit_rgb(img, s, x, y),
        Source::Rgb(s) => canvas::blit_rgb(img, &resample::resize::<_, 3>(s, w, h), x, y),
        Source::Rgba(s) if s.dimensions() == (w, h) => canvas::blit_rgba(img, s, x, y),
        Source::Rgba(s) => canvas::blit_rgba(img, &resample::resize::<_, 4>(s, w, h), x, y),
    }
}

/// Colours and accents derived from a style key.
#[derive(Debug, Clone)]
struct Style {
    top: Rgb,
    bottom: Rgb,
    halo: Rgb,
    /// Opacity of the halo, out of 256.
    halo_alpha: u32,
    /// Halo radius relative to the largest that keeps it clear of the corners.
    halo_scale: f64,
    accent: Rgb,
    /// Accent dots: position (fractions of the free range) and radius (fraction of the largest).
    dots: [(f64, f64, f64); 3],
    band: Rgb,
    panel: Rgb,
    frame: Rgb,
}

impl Style {
    fn from_key(key: u64) -> Style {
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        let hue: f64 = rng.random_range(0.0..360.0);
        let top = hsv(hue, rng.random_range(0.15..0.45), rng.random_range(0.85..0.97));
        let bottom = hsv(
            hue + rng.random_range(15.0..75.0),
            rng.random_range(0.35..0.70),
            rng.random_range(0.35..0.60),
        );
        let accent_hue = hue + rng.random_range(140.0..220.0);
        let accent = hsv(accent_hue, rng.random_range(0.50..0.85), rng.random_range(0.65..0.90));
        let mut dot = || {
            (
                rng.random_range(0.0..1.0),
                rng.random_range(0.0..1.0),
                rng.random_range(0.4..1.0),
            )
        };
        let dots = [dot(), dot(), dot()];
        Style {
            top,
            bottom,
            halo: hsv(hue, 0.08, 1.0),
            halo_alpha: rng.random_range(70..140),
            halo_scale: rng.random_range(0.70..0.95),
            accent,
            dots,
            band: hsv(accent_hue, 0.6, 0.45),
            panel: hsv(hue, rng.random_range(0.03..0.10), rng.random_range(0.95..0.99)),
            frame: hsv(hue, 0.05, 0.99),
        }
    }
}

/// HSV (hue in degrees, any range; saturation and value in 0..=1) to RGB.
fn hsv(hue: f64, sat: f64, val: f64) -> Rgb {
    let h = hue.rem_euclid(360.0) / 60.0;
    let c = val * sat;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = val - c;
    let to_u8 = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    [to_u8(r), to_u8(g), to_u8(b)]
}

/// Where things go on a canvas of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Outer margin.
    margin: u32,
    /// The area the framed portrait is centred in: (x, y, w, h).
    portrait: (u32, u32, u32, u32),
    /// Thickness of the portrait's frame.
    frame: u32,
    /// The horizontal accent band: (x, y, w, h).
    band: (u32, u32, u32, u32),
    /// The area the garment tiles are centred in: (x, y, w, h); above the watermark's footer.
    garments: (u32, u32, u32, u32),
    /// Gap between garment tiles.
    gap: u32,
}

fn pct(v: u32, percent: u64) -> u32 {
    (u64::from(v) * percent / 100) as u32
}

impl Layout {
    fn new(width: u32, height: u32) -> Layout {
        let short = width.min(height);
        let margin = (short / 32).max(4);
        let inner_w = width.saturating_sub(2 * margin);
        let portrait_bottom = pct(height, 56);
        let portrait = (margin, margin, inner_w, portrait_bottom.saturating_sub(margin));
        let band = (margin, pct(height, 58), inner_w, (height / 160).max(1));
        let mark = watermark::layout(width, height);
        let footer = if mark.fits {
            mark.y.saturating_sub(margin / 2)
        } else {
            height.saturating_sub(margin)
        };
        let garments_top = pct(height, 61);
        let garments = (margin, garments_top, inner_w, footer.saturating_sub(garments_top));
        Layout {
            margin,
            portrait,
            frame: (short / 256).max(1),
            band,
            garments,
            gap: (short / 128).max(1),
        }
    }
}

/// Tile grid for `n` tiles of aspect 4:5 in a `w` x `h` area: (columns, rows, tile width, tile height),
/// choosing the column count that gives the largest tiles (a single row when there is room).
fn tile_grid(n: u32, w: u32, h: u32, gap: u32) -> Option<(u32, u32, u32, u32)> {
    let mut best: Option<(u32, u32, u32, u32)> = None;
    for cols in 1..=n {
        let rows = n.div_ceil(cols);
        let free = |side: u32, count: u32| (count - 1).checked_mul(gap).and_then(|gaps| side.checked_sub(gaps));
        let (Some(free_w), Some(free_h)) = (free(w, cols), free(h, rows)) else {
            continue;
        };
        let tile_w = (free_w / cols).min(free_h / rows * 4 / 5);
        let tile_h = tile_w * 5 / 4;
        if tile_w >= 1 && tile_h >= 1 && best.is_none_or(|b| tile_w > b.2) {
            best = Some((cols, rows, tile_w, tile_h));
        }
    }
    best
}

fn compose(width: u32, height: u32, style: &Style, identity: &Source, garments: &[Source]) -> RgbImage {
    let mut img = RgbImage::new(width, height);
    let layout = Layout::new(width, height);
    // The background, with a soft halo behind the portrait (never reaching the corners).
    let (px, py, pw, ph) = layout.portrait;
    let (cx, cy) = (i64::from(width / 2), i64::from(py + ph / 2));
    let halo = canvas::Disc {
        cx,
        cy,
        r: (cx.min(cy) as f64 * style.halo_scale) as i64,
        color: style.halo,
        alpha: style.halo_alpha,
    };
    canvas::vertical_gradient(&mut img, style.top, style.bottom, Some(halo));

    // Accents: a few dots.
    let max_dot = f64::from(width.min(height)) / 24.0;
    for (fx, fy, fr) in style.dots {
        let r = (max_dot * fr).max(1.0) as i64;
        let x_range = (i64::from(px) + r, i64::from(px + pw) - r);
        let y_range = (i64::from(py) + r, i64::from(py + ph) - r);
        if x_range.1 > x_range.0 && y_range.1 > y_range.0 {
            let x = x_range.0 + ((x_range.1 - x_range.0) as f64 * fx) as i64;
            let y = y_range.0 + ((y_range.1 - y_range.0) as f64 * fy) as i64;
            canvas::fill_circle(
                &mut img,
                canvas::Disc {
                    cx: x,
                    cy: y,
                    r,
                    color: style.accent,
                    alpha: 256,
                },
            );
        }
    }
    let (bx, by, bw, bh) = layout.band;
    canvas::fill_rect(&mut img, bx, by, bw, bh, style.band);

    // The portrait: the identity image in a frame, centred in its area.
    let t = layout.frame;
    if pw > 2 * t && ph > 2 * t {
        let (iw, ih) = identity.dimensions();
        let (nw, nh) = fit(iw, ih, pw - 2 * t, ph - 2 * t);
        let (fx, fy) = (px + (pw - nw - 2 * t) / 2, py + (ph - nh - 2 * t) / 2);
        canvas::fill_rect(&mut img, fx, fy, nw + 2 * t, nh + 2 * t, style.frame);
        draw_scaled(&mut img, identity, fx + t, fy + t, nw, nh);
    }

    // The garments: equal tiles, a row when there is room, centred in their area.
    let (gx, gy, gw, gh) = layout.garments;
    let n = u32::try_from(garments.len()).unwrap_or(u32::MAX);
    if let Some((cols, rows, tw, th)) = tile_grid(n, gw, gh, layout.gap) {
        let gap = layout.gap;
        let top = gy + (gh - (rows * th + (rows - 1) * gap)) / 2;
        let pad = (tw / 16).max(1);
        for (i, garment) in garments.iter().enumerate() {
            let i = i as u32;
            let (row, col) = (i / cols, i % cols);
            let in_row = cols.min(n - row * cols);
            let left = gx + (gw - (in_row * tw + (in_row - 1) * gap)) / 2;
            let (x, y) = (left + col * (tw + gap), top + row * (th + gap));
            canvas::fill_rect(&mut img, x, y, tw, th, style.panel);
            draw_fitted(
                &mut img,
                garment,
                x + pad,
                y + pad,
                tw.saturating_sub(2 * pad),
                th.saturating_sub(2 * pad),
            );
        }
    }
    img
}

#[cfg(test)]
mod tests;
