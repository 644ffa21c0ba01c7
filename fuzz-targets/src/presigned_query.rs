//! Pre-signed storage URLs: the fuzz input is `FILE_ID?QUERY`, parsed as the
//! `PUT /upload/{file_id}` handler does (the query extractor's parser, then
//! `Signer::verify`). Properties: a fuzzed signature never verifies unless
//! it is the genuine one; a genuine signature over the fuzzed expiry
//! verifies exactly when the expiry is still ahead; every refusal renders
//! as S3's XML error.

use axum::response::IntoResponse;
use mock_server::clock::Instant;
use mock_server::domain::ids::FileId;
use mock_server::http::extract::parse_query;
use mock_server::links::upload_path;
use mock_server::storage::presign::{SignedQuery, Signer};

const CONTENT_TYPE: &str = "image/jpeg";
/// 2026-01-01T00:00:00Z, the manual clock's default start.
const NOW: Instant = Instant::from_millis(1_767_225_600_000);

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (file_id, query) = text.split_once('?').unwrap_or((&text, ""));
    let path = upload_path(&FileId::from_client(file_id));
    let Ok(q) = parse_query::<SignedQuery>(query) else {
        return;
    };
    let signer = Signer::from_seed(0);
    match signer.verify("PUT", &path, CONTENT_TYPE, &q, NOW) {
        Ok(()) => {
            let exp: i64 = q
                .expires
                .as_deref()
                .and_then(|e| e.parse().ok())
                .expect("verified expiry");
            let genuine = signer.sign("PUT", &path, CONTENT_TYPE, exp);
            let sig = q.signature.as_deref().expect("verified signature");
            assert!(sig.eq_ignore_ascii_case(&genuine), "a forged signature verified");
            assert!(NOW.unix_seconds() < exp);
        }
        Err(e) => {
            let res = e.into_response();
            assert!(res.status().is_client_error());
        }
    }
    // The same query with the genuine signature over its expiry.
    if let Some(exp) = q.expires.as_deref().and_then(|e| e.parse::<i64>().ok()) {
        let signed = SignedQuery {
            expires: q.expires.clone(),
            signature: Some(signer.sign("PUT", &path, CONTENT_TYPE, exp)),
        };
        let verdict = signer.verify("PUT", &path, CONTENT_TYPE, &signed, NOW);
        assert_eq!(verdict.is_ok(), NOW.unix_seconds() < exp, "expiry {exp}");
        if let Err(e) = verdict {
            assert_eq!(e.code(), "AccessDenied");
        }
        // Another content type than the one signed never passes.
        assert!(signer.verify("PUT", &path, "image/png", &signed, NOW).is_err());
    }
}
