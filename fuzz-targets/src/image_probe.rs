//! The image probe that both upload paths run (`POST /identity/upload` and
//! the pre-signed `PUT /upload/{file_id}`), on raw bytes: faster than
//! reaching it through a multipart body, so the decoders get more inputs.
//! An accepted image must be within the documented limits, and be refused
//! when another type is expected (before decoding: each input decodes once).

use mock_server::domain::image_probe::{MAX_PIXELS, MAX_SIDE, MIN_FACE_SIDE, probe};

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(info) = probe(data, None) else {
        return;
    };
    assert!(info.width >= 1 && info.width <= MAX_SIDE && info.height >= 1 && info.height <= MAX_SIDE);
    assert!(u64::from(info.width) * u64::from(info.height) <= MAX_PIXELS);
    assert!(!info.face_detected || info.width.min(info.height) >= MIN_FACE_SIDE);
    for mime in ["image/jpeg", "image/png", "image/webp"] {
        if mime != info.content_type() {
            assert!(
                probe(data, Some(mime)).is_err(),
                "{} accepted as {mime}",
                info.content_type()
            );
        }
    }
}
