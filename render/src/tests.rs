//! Tests of the renderer; small sizes (<= 1024) so that they stay fast in a debug build.

use std::io::Cursor;

use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ImageFormat, Rgb as Px, Rgba as Pxa};

use super::*;

fn encode_input(img: DynamicImage, format: ImageFormat) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::WebP => {
            let rgba = img.to_rgba8();
            let result = WebPEncoder::new_lossless(&mut out).encode(
                rgba.as_raw(),
                rgba.width(),
                rgba.height(),
                ExtendedColorType::Rgba8,
            );
            result.expect("encoding a test input");
        }
        _ => img.write_to(&mut out, format).expect("encoding a test input"),
    }
    Bytes::from(out.into_inner())
}

/// A 96x120 "portrait": a gradient with a lighter disc.
fn identity_jpeg() -> Bytes {
    let img = RgbImage::from_fn(96, 120, |x, y| {
        let d = (x as i32 - 48).pow(2) + (y as i32 - 45).pow(2);
        if d < 28 * 28 {
            Px([230, 190, 160])
        } else {
            Px([40 + x as u8, 60, 90 + y as u8])
        }
    });
    encode_input(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)
}

/// An 80x100 "shirt" PNG with a transparent background.
fn garment_png_with_alpha() -> Bytes {
    let img = RgbaImage::from_fn(80, 100, |x, y| {
        if (15..65).contains(&x) && (10..90).contains(&y) {
            Pxa([200, 40, 40, 255])
        } else {
            Pxa([0, 0, 0, 0])
        }
    });
    encode_input(DynamicImage::ImageRgba8(img), ImageFormat::Png)
}

fn garment_jpeg() -> Bytes {
    let img = RgbImage::from_fn(64, 64, |x, y| Px([30, 60 + (x + y) as u8, 160]));
    encode_input(DynamicImage::ImageRgb8(img), ImageFormat::Jpeg)
}

fn garment_webp() -> Bytes {
    let img = RgbaImage::from_fn(50, 70, |x, _| Pxa([20, 150, 60 + x as u8, 255]));
    encode_input(DynamicImage::ImageRgba8(img), ImageFormat::WebP)
}

fn request(width: u32, height: u32, format: OutputFormat, style_key: u64, watermark: bool) -> RenderRequest {
    RenderRequest {
        width,
        height,
        format,
        identity: identity_jpeg(),
        garments: vec![garment_png_with_alpha(), garment_jpeg(), garment_webp()],
        style_key,
        watermark,
    }
}

fn decode_output(bytes: &[u8], format: OutputFormat) -> RgbImage {
    let expected = match format {
        OutputFormat::Jpeg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
    };
    assert_eq!(image::guess_format(bytes).expect("a known format"), expected);
    image::load_from_memory_with_format(bytes, expected)
        .expect("decodable output")
        .to_rgb8()
}

fn render_ok(req: &RenderRequest) -> Rendered {
    render(req).unwrap_or_else(|e| panic!("{}x{}: {e}", req.width, req.height))
}

fn solid(w: u32, h: u32, color: [u8; 3], format: ImageFormat) -> Bytes {
    encode_input(DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Px(color))), format)
}

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= tolerance)
}

fn mean_rgb(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> [f64; 3] {
    let mut sum = [0.0; 3];
    for yy in y..y + h {
        for xx in x..x + w {
            for (s, c) in sum.iter_mut().zip(img.get_pixel(xx, yy).0) {
                *s += f64::from(c);
            }
        }
    }
    sum.map(|s| s / f64::from(w * h))
}

#[test]
fn format_names() {
    assert_eq!(OutputFormat::Jpeg.content_type(), "image/jpeg");
    assert_eq!(OutputFormat::Png.content_type(), "image/png");
    assert_eq!(OutputFormat::Jpeg.extension(), "jpg");
    assert_eq!(OutputFormat::Png.extension(), "png");
}

#[test]
fn output_and_thumbnail_have_exact_sizes_and_formats() {
    let cases = [
        (256, 256, OutputFormat::Jpeg),
        (1024, 1024, OutputFormat::Png),
        (768, 1024, OutputFormat::Jpeg),
        (576, 1024, OutputFormat::Png),
        (1024, 576, OutputFormat::Jpeg),
        (1024, 256, OutputFormat::Png),
        (256, 1024, OutputFormat::Jpeg),
        (1000, 333, OutputFormat::Jpeg),
        (301, 997, OutputFormat::Png),
    ];
    for (w, h, format) in cases {
        let out = render_ok(&request(w, h, format, 7, true));
        assert_eq!(out.content_type, format.content_type());
        let full = decode_output(&out.full, format);
        assert_eq!(full.dimensions(), (w, h));
        let thumb = decode_output(&out.thumbnail, format);
        assert_eq!(
            thumb.dimensions(),
            (out.thumbnail_width, out.thumbnail_height),
            "{w}x{h}"
        );
        assert_eq!(
            out.thumbnail_width.max(out.thumbnail_height),
            THUMBNAIL_LONG_SIDE,
            "{w}x{h}"
        );
        // Same aspect ratio, to the nearest pixel.
        let (tw, th) = (f64::from(out.thumbnail_width), f64::from(out.thumbnail_height));
        if w >= h {
            assert!(
                (th - tw * f64::from(h) / f64::from(w)).abs() <= 0.5,
                "{w}x{h} -> {tw}x{th}"
            );
        } else {
            assert!(
                (tw - th * f64::from(w) / f64::from(h)).abs() <= 0.5,
                "{w}x{h} -> {tw}x{th}"
            );
        }
    }
}

#[test]
fn thumbnail_size_keeps_the_aspect() {
    assert_eq!(thumbnail_size(4096, 4096), (256, 256));
    assert_eq!(thumbnail_size(4096, 2304), (256, 144));
    assert_eq!(thumbnail_size(576, 1024), (144, 256));
    assert_eq!(thumbnail_size(1000, 4000), (64, 256));
    assert_eq!(thumbnail_size(7000, 1), (256, 1));
}

#[test]
fn same_request_gives_identical_bytes() {
    for format in [OutputFormat::Jpeg, OutputFormat::Png] {
        let req = request(640, 480, format, 42, true);
        let (a, b) = (render_ok(&req), render_ok(&req));
        assert_eq!(a.full, b.full);
        assert_eq!(a.thumbnail, b.thumbnail);
    }
}

#[test]
fn different_style_keys_give_different_backgrounds() {
    let (w, h) = (512, 512);
    let a = render_ok(&request(w, h, OutputFormat::Png, 1, false));
    let b = render_ok(&request(w, h, OutputFormat::Png, 2, false));
    assert_ne!(a.full, b.full);
    assert_ne!(a.thumbnail, b.thumbnail);
    let (a, b) = (
        decode_output(&a.full, OutputFormat::Png),
        decode_output(&b.full, OutputFormat::Png),
    );
    // The top-left corner (inside the margin) is pure background, and so is the strip under the garments.
    let m = Layout::new(w, h).margin;
    for (x, y) in [(0, 0), (0, h - m)] {
        let (ca, cb) = (mean_rgb(&a, x, y, m, m), mean_rgb(&b, x, y, m, m));
        let diff: f64 = ca.iter().zip(cb).map(|(p, q)| (p - q).abs()).sum();
        assert!(diff > 40.0, "background at ({x}, {y}) barely differs: {ca:?} vs {cb:?}");
    }
    // Keys also change many other pixels (accents), not just the corners.
    let changed = a.pixels().zip(b.pixels()).filter(|(p, q)| !close(p.0, q.0, 8)).count();
    assert!(changed > (w * h / 4) as usize, "only {changed} pixels differ");
}

#[test]
fn many_style_keys_give_distinct_backgrounds() {
    let tops: Vec<Rgb> = (0..32).map(|k| Style::from_key(k).top).collect();
    for (i, a) in tops.iter().enumerate() {
        for b in &tops[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn picture_is_composed_from_the_inputs() {
    let (w, h) = (600, 800);
    let req = RenderRequest {
        identity: solid(60, 80, [250, 20, 20], ImageFormat::Png),
        garments: vec![solid(40, 50, [20, 20, 250], ImageFormat::Png)],
        ..request(w, h, OutputFormat::Png, 3, false)
    };
    let img = decode_output(&render_ok(&req).full, OutputFormat::Png);
    let layout = Layout::new(w, h);
    let (px, py, pw, ph) = layout.portrait;
    assert!(
        close(img.get_pixel(px + pw / 2, py + ph / 2).0, [250, 20, 20], 2),
        "identity at the portrait centre"
    );
    let (gx, gy, gw, gh) = layout.garments;
    assert!(
        close(img.get_pixel(gx + gw / 2, gy + gh / 2).0, [20, 20, 250], 2),
        "garment at the row centre"
    );

    // Three garments in a roomy area: one row of equal tiles, each showing its own garment.
    let colors = [[250, 20, 20], [20, 250, 20], [20, 20, 250]];
    let req = RenderRequest {
        garments: colors.iter().map(|&c| solid(40, 50, c, ImageFormat::Jpeg)).collect(),
        ..req
    };
    let img = decode_output(&render_ok(&req).full, OutputFormat::Png);
    let (cols, rows, tw, _) = tile_grid(3, gw, gh, layout.gap).expect("room for tiles");
    assert_eq!((cols, rows), (3, 1));
    let left = gx + (gw - (3 * tw + 2 * layout.gap)) / 2;
    for (i, color) in colors.iter().enumerate() {
        let x = left + i as u32 * (tw + layout.gap) + tw / 2;
        let got = img.get_pixel(x, gy + gh / 2).0;
        assert!(close(got, *color, 12), "tile {i}: {got:?} vs {color:?}");
    }
}

#[test]
fn transparent_garment_pixels_show_the_tile_panel() {
    let (w, h) = (512, 512);
    let req = RenderRequest {
        garments: vec![garment_png_with_alpha()],
        ..request(w, h, OutputFormat::Png, 9, false)
    };
    let img = decode_output(&render_ok(&req).full, OutputFormat::Png);
    let layout = Layout::new(w, h);
    let (gx, gy, gw, gh) = layout.garments;
    let (_, _, tw, th) = tile_grid(1, gw, gh, layout.gap).expect("room for a tile");
    let (x, y) = (gx + (gw - tw) / 2, gy + (gh - th) / 2);
    let panel = Style::from_key(9).panel;
    // The garment's transparent margin (left 15 of 80 columns) shows the panel, its body shows red.
    assert_eq!(img.get_pixel(x + tw / 8, y + th / 2).0, panel);
    assert!(close(img.get_pixel(x + tw / 2, y + th / 2).0, [200, 40, 40], 4));
}

#[test]
fn watermark_present_only_when_requested() {
    for format in [OutputFormat::Jpeg, OutputFormat::Png] {
        for (w, h) in [(1024, 1024), (576, 1024), (1024, 256), (256, 1024), (512, 512)] {
            let with = render_ok(&request(w, h, format, 5, true));
            let without = render_ok(&request(w, h, format, 5, false));
            let (full, thumb) = (
                decode_output(&with.full, format),
                decode_output(&with.thumbnail, format),
            );
            assert!(has_watermark(&full), "{format:?} {w}x{h}: full lacks the mark");
            assert!(has_watermark(&thumb), "{format:?} {w}x{h}: thumbnail lacks the mark");
            let (full, thumb) = (
                decode_output(&without.full, format),
                decode_output(&without.thumbnail, format),
            );
            assert!(!has_watermark(&full), "{format:?} {w}x{h}: unexpected mark on full");
            assert!(
                !has_watermark(&thumb),
                "{format:?} {w}x{h}: unexpected mark on thumbnail"
            );
        }
    }
}

#[test]
fn watermark_changes_only_its_rectangle() {
    let (w, h) = (640, 400);
    let with = decode_output(
        &render_ok(&request(w, h, OutputFormat::Png, 11, true)).full,
        OutputFormat::Png,
    );
    let without = decode_output(
        &render_ok(&request(w, h, OutputFormat::Png, 11, false)).full,
        OutputFormat::Png,
    );
    let (rx, ry, rw, rh) = watermark_rect(w, h);
    assert!(rx + rw <= w && ry + rh <= h && rx > w / 2 && ry > h / 2);
    let mut inside_changed = 0;
    for (x, y, p) in with.enumerate_pixels() {
        let inside = (rx..rx + rw).contains(&x) && (ry..ry + rh).contains(&y);
        if inside {
            inside_changed += usize::from(p != without.get_pixel(x, y));
        } else {
            assert_eq!(p, without.get_pixel(x, y), "pixel ({x}, {y}) outside the mark changed");
        }
    }
    assert!(
        inside_changed * 10 > (rw * rh) as usize * 9,
        "the mark covers its rectangle"
    );
}

#[test]
fn watermark_is_not_detected_on_the_inputs_or_plain_images() {
    for img in [
        RgbImage::from_pixel(512, 512, Px([255, 255, 255])),
        RgbImage::from_pixel(512, 512, Px([0, 0, 0])),
        RgbImage::from_fn(512, 512, |x, y| Px([((x ^ y) & 1) as u8 * 255; 3])),
        decode_output(
            &render_ok(&request(512, 512, OutputFormat::Png, 1, false)).full,
            OutputFormat::Png,
        ),
    ] {
        assert!(!has_watermark(&img));
    }
}

#[test]
fn bad_inputs_give_errors() {
    let good = request(256, 256, OutputFormat::Jpeg, 1, true);
    let png = garment_png_with_alpha();
    let cases = [
        RenderRequest {
            identity: Bytes::from_static(b"not an image"),
            ..good.clone()
        },
        RenderRequest {
            identity: Bytes::new(),
            ..good.clone()
        },
        RenderRequest {
            identity: png.slice(..png.len() / 2),
            ..good.clone()
        },
        RenderRequest {
            garments: vec![garment_jpeg(), Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0x00])],
            ..good.clone()
        },
        RenderRequest {
            width: 0,
            ..good.clone()
        },
        RenderRequest {
            height: MAX_SIDE + 1,
            ..good.clone()
        },
    ];
    for (i, req) in cases.iter().enumerate() {
        let err = render(req).expect_err("bad request must fail");
        assert!(!err.0.is_empty(), "case {i}");
        assert!(err.to_string().starts_with("render failed: "), "case {i}: {err}");
    }
    let err = render(&cases[3]).expect_err("bad garment");
    assert!(err.0.starts_with("garment image 2"), "{err}");
    assert!(render(&good).is_ok());
}

#[test]
fn any_garment_count_and_extreme_aspects_render() {
    for n in [0, 1, 10] {
        for (w, h) in [(256, 1024), (1024, 256), (257, 263)] {
            let req = RenderRequest {
                garments: (0..n).map(|_| garment_jpeg()).collect(),
                ..request(w, h, OutputFormat::Jpeg, n as u64, true)
            };
            let out = render_ok(&req);
            assert_eq!(decode_output(&out.full, OutputFormat::Jpeg).dimensions(), (w, h));
        }
    }
}

#[test]
fn degenerate_sizes_do_not_panic() {
    for (w, h) in [(1, 1), (2, 900), (900, 2), (40, 40)] {
        for format in [OutputFormat::Jpeg, OutputFormat::Png] {
            let out = render_ok(&request(w, h, format, 1, true));
            assert_eq!(decode_output(&out.full, format).dimensions(), (w, h));
            let thumb = decode_output(&out.thumbnail, format);
            assert_eq!(thumb.width().max(thumb.height()), THUMBNAIL_LONG_SIDE);
        }
    }
}

/// Timing of large renders against a bare encode of a same-size buffer. Run with
/// `cargo test --release -p mock-server --lib render::tests::timing_large_renders -- --ignored --nocapture`.
#[test]
#[ignore = "timing report; run in a release build"]
fn timing_large_renders() {
    use std::time::Instant;
    for side in [2048, 4096] {
        let req = request(side, side, OutputFormat::Jpeg, 77, true);
        let _ = render_ok(&req);
        let runs = 3;
        let start = Instant::now();
        for _ in 0..runs {
            let _ = render_ok(&req);
        }
        let render_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
        let buffer = RgbImage::from_fn(side, side, |x, y| Px([(x / 16) as u8, (y / 16) as u8, 128]));
        let start = Instant::now();
        for _ in 0..runs {
            let _ = encode(&buffer, OutputFormat::Jpeg);
        }
        let encode_ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
        println!(
            "{side}x{side} JPEG: render {render_ms:.1} ms, bare encode {encode_ms:.1} ms, ratio {:.2}",
            render_ms / encode_ms
        );
    }
}
