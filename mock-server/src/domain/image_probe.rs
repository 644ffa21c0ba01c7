//! Checks that bytes are an image of an accepted type, reading the declared
//! size from the header before decoding, so an "image bomb" (a tiny file
//! declaring huge dimensions) is refused without allocating for it. The type
//! is read from the bytes themselves, never from a name or a declared
//! `Content-Type`: clients upload a PNG as `pants.jpg`, and it is a PNG.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

/// The largest width or height accepted on input.
pub const MAX_SIDE: u32 = 12_000;
/// The most pixels accepted on input (width × height).
pub const MAX_PIXELS: u64 = 64_000_000;
/// The shorter side below which no face can be detected.
pub const MIN_FACE_SIDE: u32 = 128;

/// What the probe learned about an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// The detected format.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The fake's deterministic stand-in for face detection: the shorter
    /// side is at least [`MIN_FACE_SIDE`] pixels and the picture is not one
    /// flat colour (its luminance spans more than 8 levels).
    pub face_detected: bool,
}

impl ImageInfo {
    /// The MIME type of the detected format.
    pub fn content_type(&self) -> &'static str {
        match self.format {
            ImageFormat::Png => "image/png",
            ImageFormat::WebP => "image/webp",
            _ => "image/jpeg",
        }
    }
}

/// Why bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeError(pub String);

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The MIME type of an accepted format, or `None`.
pub fn mime_of(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Jpeg => Some("image/jpeg"),
        ImageFormat::Png => Some("image/png"),
        ImageFormat::WebP => Some("image/webp"),
        _ => None,
    }
}

/// The start of every reason bytes are refused other than their size.
pub const NOT_DECODABLE: &str = "not a decodable JPEG, PNG or WebP image";

/// Decodes `bytes` as a JPEG, PNG or WebP image, whichever the bytes are.
/// CPU-bound: call it off the async runtime.
pub fn probe(bytes: &[u8]) -> Result<ImageInfo, ProbeError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ProbeError(format!("{NOT_DECODABLE}: {e}")))?;
    let format = reader
        .format()
        .ok_or_else(|| ProbeError(format!("{NOT_DECODABLE}: the bytes are of no known image format")))?;
    let mime = mime_of(format)
        .ok_or_else(|| ProbeError(format!("{NOT_DECODABLE}: the bytes are {}", format.to_mime_type())))?;
    let (width, height) = match vp8l_dimensions(bytes) {
        Some(size) if format == ImageFormat::WebP => size,
        _ => ImageReader::with_format(Cursor::new(bytes), format)
            .into_dimensions()
            .map_err(|e| ProbeError(format!("{NOT_DECODABLE}: unreadable {mime} header: {e}")))?,
    };
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(ProbeError(format!(
            "image is {width}x{height}: each side must be 1–{MAX_SIDE} px and at most {MAX_PIXELS} pixels in all"
        )));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| ProbeError(format!("{NOT_DECODABLE}: corrupt {mime} image: {e}")))?;
    let luma = img.to_luma8();
    let (lo, hi) = luma
        .pixels()
        .fold((u8::MAX, u8::MIN), |(lo, hi), p| (lo.min(p.0[0]), hi.max(p.0[0])));
    let face_detected = width.min(height) >= MIN_FACE_SIDE && hi.saturating_sub(lo) > 8;
    Ok(ImageInfo {
        format,
        width,
        height,
        face_detected,
    })
}

/// The size a lossless WebP in the simple format (`RIFF`, `WEBP`, then a
/// `VP8L` chunk) declares, or `None` for any other bytes. image-webp 0.2.4
/// computes each side as `(1 + bits) & 0x3FFF`, so a side of 16,384 reads as
/// 0; here as the format defines it: after the signature byte `0x2f`, 14
/// bits of width − 1 and 14 of height − 1, little-endian. A header whose
/// 3-bit version is not 0 is left to the decoder, which refuses it.
fn vp8l_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let riff = bytes.get(0..4)? == b"RIFF" && bytes.get(8..12)? == b"WEBP";
    if !riff || bytes.get(12..16)? != b"VP8L" || *bytes.get(20)? != 0x2f {
        return None;
    }
    let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
    if bits >> 29 != 0 {
        return None;
    }
    Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    fn encode(w: u32, h: u32, format: ImageFormat, flat: bool) -> Vec<u8> {
        let img = ImageBuffer::from_fn(w, h, |x, y| {
            if flat {
                Rgb([90u8, 90, 90])
            } else {
                Rgb([(x % 256) as u8, (y % 256) as u8, 128])
            }
        });
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    #[test]
    fn accepts_each_format_and_reports_size() {
        for (f, mime) in [
            (ImageFormat::Png, "image/png"),
            (ImageFormat::Jpeg, "image/jpeg"),
            (ImageFormat::WebP, "image/webp"),
        ] {
            let info = probe(&encode(200, 300, f, false)).expect(mime);
            assert_eq!((info.width, info.height, info.content_type()), (200, 300, mime));
            assert!(info.face_detected);
        }
    }

    #[test]
    fn face_rule_needs_size_and_contrast() {
        assert!(
            !probe(&encode(100, 300, ImageFormat::Png, false))
                .expect("ok")
                .face_detected
        );
        assert!(
            !probe(&encode(300, 300, ImageFormat::Png, true))
                .expect("ok")
                .face_detected
        );
    }

    #[test]
    fn refuses_garbage_other_formats_and_truncation_as_not_decodable() {
        let png = encode(64, 64, ImageFormat::Png, false);
        // The GIF signature and a 1x1 screen: a format this fake does not take.
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
        for (case, bytes, why) in [
            ("text", &b"hello world"[..], "no known image format"),
            ("a GIF", &gif, "the bytes are image/gif"),
            ("half a PNG", &png[..png.len() / 2], "image/png"),
        ] {
            let err = probe(bytes).expect_err(case);
            assert!(err.0.starts_with(NOT_DECODABLE) && err.0.contains(why), "{case}: {err}");
        }
    }

    #[test]
    fn refuses_a_bomb_before_decoding() {
        // A PNG header declaring 100000 x 100000 pixels with no data after it.
        let mut png = encode(1, 1, ImageFormat::Png, false);
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let err = probe(&png).expect_err("bomb");
        assert!(err.0.contains("100000x100000") || err.0.contains("header"), "{err}");
    }

    /// A lossless WebP header declaring `w`×`h` (each 1–16,384), no pixels.
    fn vp8l_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"RIFF\x00\x00\x00\x00WEBPVP8L\x05\x00\x00\x00\x2f".to_vec();
        b.extend_from_slice(&((w - 1) | ((h - 1) << 14)).to_le_bytes());
        b
    }

    #[test]
    fn a_webp_side_of_16384_is_named_not_read_as_0() {
        let err = probe(&vp8l_header(16_384, 16_384)).expect_err("too large");
        assert!(err.0.contains("16384x16384"), "{err}");
        let err = probe(&vp8l_header(16_384, 1)).expect_err("too large");
        assert!(err.0.contains("16384x1"), "{err}");
    }

    #[test]
    fn the_vp8l_size_read_here_is_the_decoders_for_real_images() {
        for (w, h) in [(1, 1), (200, 300), (301, 7)] {
            let webp = encode(w, h, ImageFormat::WebP, false);
            assert_eq!(vp8l_dimensions(&webp), Some((w, h)));
            assert_eq!(probe(&webp).map(|i| (i.width, i.height)), Ok((w, h)));
        }
        assert_eq!(vp8l_dimensions(&encode(8, 8, ImageFormat::Png, false)), None);
    }

    #[test]
    fn a_short_or_altered_vp8l_header_never_panics() {
        let full = vp8l_header(16_384, 16_384);
        for n in 0..full.len() {
            assert_eq!(vp8l_dimensions(&full[..n]), None, "{n} bytes");
            let _ = probe(&full[..n]);
        }
        let mut other = full.clone();
        other[20] = 0x2e;
        assert_eq!(vp8l_dimensions(&other), None);
        // A version other than 0 (the top 3 bits) is the decoder's to refuse.
        let mut versioned = full;
        versioned[24] |= 0x20;
        assert_eq!(vp8l_dimensions(&versioned), None);
        assert!(probe(&versioned).is_err());
    }
}
