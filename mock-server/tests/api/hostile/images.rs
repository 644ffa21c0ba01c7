//! Image bombs (tiny files whose headers declare huge sizes) and bytes that
//! are no image. Storage keeps whatever a pre-signed PUT sends, as S3 does;
//! the job that would use such bytes is what refuses them.

use super::*;
use crate::helpers::png_bomb;

/// An 8×8 JPEG whose frame header (SOF0) says `w`×`h`.
fn jpeg_bomb(w: u16, h: u16) -> Vec<u8> {
    let mut jpg = image(8, 8, ImageFormat::Jpeg, 0);
    let sof = jpg.windows(2).position(|m| m == [0xFF, 0xC0]).expect("a SOF0 marker");
    jpg[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    jpg[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    jpg
}

/// A 1×1 lossless WebP whose VP8L header says `w`×`h` (each at most 16384).
fn webp_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut webp = image(1, 1, ImageFormat::WebP, 0);
    let at = webp.windows(4).position(|m| m == b"VP8L").expect("a VP8L chunk") + 9;
    let old = u32::from_le_bytes(webp[at..at + 4].try_into().expect("4 bytes"));
    let packed = (w - 1) | ((h - 1) << 14) | (old & 0xF000_0000);
    webp[at..at + 4].copy_from_slice(&packed.to_le_bytes());
    webp
}

#[tokio::test]
async fn image_bombs_are_refused_from_their_header() {
    let w = World::build(|_| {}).await;
    let app = &w.app;
    // Decoding any of these would need gigabytes; each is refused from the
    // size its header declares, named in the answer.
    let bombs: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "a PNG declaring 100,000 x 100,000",
            png_bomb(100_000, 100_000),
            "100000x100000",
        ),
        (
            "a PNG declaring 20,000 x 10 (one side too long)",
            png_bomb(20_000, 10),
            "20000x10",
        ),
        (
            "a PNG declaring 8,001 x 8,001 (just over 64 MP)",
            png_bomb(8001, 8001),
            "8001x8001",
        ),
        ("a JPEG declaring 16,000 x 5,000", jpeg_bomb(16_000, 5000), "16000x5000"),
        ("a WebP declaring 16,000 x 5,000", webp_bomb(16_000, 5000), "16000x5000"),
        // The largest a lossless WebP can declare: image-webp 0.2.4 reads a
        // side of 16,384 as 0, so the probe reads the header itself.
        (
            "a WebP declaring 16,384 x 16,384",
            webp_bomb(16_384, 16_384),
            "16384x16384",
        ),
    ];
    for (i, (case, bytes, size)) in bombs.iter().enumerate() {
        assert!(bytes.len() < 2048, "{case}: a tiny file");
        let form = Form::new().part("image", Part::bytes(bytes.clone()).file_name("bomb.png"));
        let r = w
            .refuse(
                &format!("{case}, as an identity"),
                app.post("/identity/upload").token(DEMO).multipart(form),
                Api(400, Some("image")),
            )
            .await;
        assert!(message(&r).contains(size), "{case}: {}", r.text());
        let ext = ["png", "png", "png", "jpg", "webp", "webp"][i];
        let m = w.refuse_as_input(case, &format!("bomb{i}.{ext}"), bytes.clone()).await;
        assert!(m.contains(size), "{case}: {m}");
    }
    // The largest size a JPEG can declare is refused too, by the decoder's
    // own header check, before any pixel is read.
    let form = Form::new().part("image", Part::bytes(jpeg_bomb(65_535, 65_535)).file_name("bomb"));
    w.refuse(
        "a JPEG declaring 65,535 x 65,535",
        app.post("/identity/upload").token(DEMO).multipart(form),
        Api(400, Some("image")),
    )
    .await;
}

#[tokio::test]
async fn bytes_that_are_no_image_are_stored_and_refused_by_the_job() {
    let w = World::build(|_| {}).await;
    let png = image(64, 64, ImageFormat::Png, 90);
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "text",
            "a.jpg",
            b"definitely not a jpeg".to_vec(),
            "no known image format",
        ),
        ("nothing at all", "b.png", Vec::new(), "no known image format"),
        ("a truncated PNG", "c.png", png[..png.len() / 2].to_vec(), "image/png"),
        (
            "a GIF",
            "d.webp",
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "image/gif",
        ),
        (
            "HTML",
            "e.jpg",
            b"<html><body>404</body></html>".to_vec(),
            "no known image format",
        ),
    ];
    for (case, name, bytes, why) in cases {
        let m = w.refuse_as_input(case, name, bytes).await;
        assert!(
            m.starts_with("not a decodable JPEG, PNG or WebP image") && m.contains(why),
            "{case}: {m}"
        );
    }
}
