//! `POST /flat-2-model`: the JSON body through the same steps as the
//! handler (`parse_json`, then the domain parser) under three account
//! contexts: the demo fixture account (custom sizes allowed, saved Design
//! Values 1–4), the other fixture account (neither), and offline
//! validation; then the fault plan of its marker words. A panic, or a
//! request the parser lets through that breaks a documented rule or the
//! published request schema (`schemas/job-create-request.json`), is a
//! crash.

use std::sync::LazyLock;

use mock_server::contract::Contract;
use mock_server::domain::account::POLICY_CUSTOM_DIMENSIONS;
use mock_server::domain::job_request::{
    Geometry, JobRequest, MAX_CUSTOM_SIDE, MAX_IMAGES, MAX_INSTRUCTIONS, MAX_VARIATIONS, MIN_CUSTOM_SIDE, ParseContext,
    parse,
};
use mock_server::engine::plan::FaultPlan;
use mock_server::http::extract::parse_json;
use mock_server::storage::fixtures::{AccountFixture, AccountsFile};
use serde_json::Value;

/// The fixture accounts, read once.
static ACCOUNTS: LazyLock<AccountsFile> = LazyLock::new(|| {
    AccountsFile::parse(include_str!("../../fixtures/accounts.json")).expect("fixtures/accounts.json")
});

fn context(a: &AccountFixture) -> ParseContext<'_> {
    ParseContext {
        custom_dimensions_allowed: a.policies.iter().any(|p| p == POLICY_CUSTOM_DIMENSIONS),
        saved_design_values: &a.design_values,
        any_saved_index: false,
    }
}

/// The documented rules a parsed request must satisfy.
fn check(req: &JobRequest, ctx: &ParseContext<'_>) {
    assert!(
        (1..=MAX_IMAGES).contains(&req.images.len()),
        "images: {}",
        req.images.len()
    );
    assert!((1..=MAX_INSTRUCTIONS).contains(&req.instructions.len()));
    assert!(req.options.anchor_index.get() < req.instructions.len());
    for (i, a) in req.images.iter().enumerate() {
        assert!(
            req.images[..i].iter().all(|b| b.file_id != a.file_id),
            "duplicate image"
        );
    }
    for ins in &req.instructions {
        assert!((1..=MAX_VARIATIONS).contains(&ins.num_variations.get()));
        let (w, h) = ins.geometry.pixels();
        assert!(w > 0 && h > 0 && w % 8 == 0 && h % 8 == 0, "{w}x{h}");
        if let Geometry::Custom(_) = ins.geometry {
            assert!(ctx.custom_dimensions_allowed, "custom size without the policy");
            assert!((MIN_CUSTOM_SIDE..=MAX_CUSTOM_SIDE).contains(&w));
            assert!((MIN_CUSTOM_SIDE..=MAX_CUSTOM_SIDE).contains(&h));
            assert!(w <= 4 * h && h <= 4 * w, "ratio {w}:{h}");
        }
        for text in ins.descriptor_texts() {
            assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        }
    }
    let total = req.total_outputs();
    assert!(total >= 1 && total as usize <= MAX_INSTRUCTIONS * MAX_VARIATIONS as usize);
    // The handler's next step: the plan of the request's marker words.
    FaultPlan::from_markers(req).validate().expect("a marker plan is valid");
}

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(body) = parse_json::<Value>(data) else {
        return;
    };
    let accounts = &*ACCOUNTS;
    let contexts = accounts.accounts.iter().map(context).chain([ParseContext::offline()]);
    for ctx in contexts {
        match parse(&body, &ctx) {
            Ok(req) => {
                check(&req, &ctx);
                if let Err(e) = Contract::global().validate("job-create-request.json", &body) {
                    panic!("accepted, but the schema refuses it: {e:?}");
                }
            }
            Err(errors) => {
                assert!(!errors.is_empty(), "refused without a reason");
                assert!(errors.iter().all(|e| e.field.is_some()) || !body.is_object());
            }
        }
    }
}
