//! QA scenario documents, both ways in: a scenario file's text
//! (`Scenario::parse`, as at start and on reset) and the body of
//! `POST /__admin/scenarios` (`parse_json` into a JSON value, then into a
//! scenario, then `validate`). A scenario that is accepted must match
//! `schemas/scenario.json` and come back unchanged through JSON
//! (`GET /__admin/scenarios` shows it that way) and still be valid.

use mock_server::contract::Contract;
use mock_server::http::extract::parse_json;
use mock_server::scenarios::Scenario;
use serde_json::Value;

fn round_trips(s: &Scenario) {
    let value = serde_json::to_value(s).expect("a scenario serialises");
    if let Err(e) = Contract::global().validate("scenario.json", &value) {
        panic!("accepted, but schemas/scenario.json refuses it: {e:?}");
    }
    let text = value.to_string();
    let again = Scenario::parse(&text).expect("a valid scenario parses again");
    assert_eq!(&again, s);
}

/// The target: panics on a finding.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(s) = Scenario::parse(text)
    {
        round_trips(&s);
    }
    if let Ok(body) = parse_json::<Value>(data)
        && let Ok(s) = parse_json::<Scenario>(body.to_string().as_bytes())
        && s.validate().is_ok()
    {
        round_trips(&s);
    }
}
