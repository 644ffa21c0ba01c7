//! The image probe that both upload paths run (`POST /identity/upload`,
//! and the pre-signed `PUT /upload/{file_id}`, whose verdict a job that uses
//! the file reads), on raw bytes: faster than reaching it through a
//! multipart body, so the decoders get more inputs. An accepted image must
//! be within the documented limits; a refusal must give one of the two
//! documented reasons (no decodable image, or its size), which the API
//! shows to clients.

use mock_server::domain::image_probe::{MAX_PIXELS, MAX_SIDE, MIN_FACE_SIDE, NOT_DECODABLE, probe};

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    let info = match probe(data) {
        Ok(info) => info,
        Err(e) => {
            assert!(
                e.0.starts_with(NOT_DECODABLE) || e.0.starts_with("image is "),
                "an undocumented reason: {e}"
            );
            return;
        }
    };
    assert!(info.width >= 1 && info.width <= MAX_SIDE && info.height >= 1 && info.height <= MAX_SIDE);
    assert!(u64::from(info.width) * u64::from(info.height) <= MAX_PIXELS);
    assert!(!info.face_detected || info.width.min(info.height) >= MIN_FACE_SIDE);
}
