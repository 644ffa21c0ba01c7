//! Property tests: generated valid and invalid `POST /flat-2-model` bodies.
//! The contract (the schema, and `contract::rules` for what a schema cannot
//! state, which the harness checks with) and the fake's parser must agree
//! (differential), every valid request must be accepted with
//! `total_outputs` = the sum of `num_variations`, and every broken rule must
//! be refused with its field path. `PROPTEST_CASES` sets the count
//! (`make proptest-long` runs many).

use mock_server::contract::{Contract, rules};
use mock_server::domain::job_request::{ParseContext, parse};
use proptest::prelude::*;
use serde_json::{Value, json};

fn text() -> impl Strategy<Value = String> {
    "[a-z][a-z ,.-]{0,24}"
}

fn design_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        (0i64..50).prop_map(|i| json!(i)),
        (text(), proptest::option::of("[0-9a-f-]{8,36}")).prop_map(|(t, img)| match img {
            Some(i) => json!({"text": t, "image": i}),
            None => json!({"text": t}),
        }),
    ]
}

fn side() -> impl Strategy<Value = u32> {
    (32u32..=875).prop_map(|k| k * 8)
}

fn options() -> impl Strategy<Value = Value> {
    let custom = (side(), side())
        .prop_filter("ratio within 1:4 and 4:1", |(w, h)| *w <= 4 * *h && *h <= 4 * *w)
        .prop_map(|(w, h)| json!({"width": w, "height": h}));
    let table = (
        proptest::option::of(prop_oneof![Just("1K"), Just("2K"), Just("4K")]),
        proptest::option::of(prop_oneof![
            Just("1:1"),
            Just("3:4"),
            Just("4:3"),
            Just("9:16"),
            Just("16:9")
        ]),
    )
        .prop_map(|(s, a)| {
            let mut o = json!({});
            if let Some(s) = s {
                o["size"] = json!(s);
            }
            if let Some(a) = a {
                o["ar"] = json!(a);
            }
            o
        });
    (
        prop_oneof![table, custom],
        proptest::option::of(prop_oneof![Just("jpg"), Just("png")]),
        proptest::option::of(any::<i32>()),
    )
        .prop_map(|(mut o, f, seed)| {
            if let Some(f) = f {
                o["format"] = json!(f);
            }
            if let Some(s) = seed {
                o["seed"] = json!(s);
            }
            o
        })
}

fn instruction() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("pose"),
                    Just("expression"),
                    Just("mood"),
                    Just("background"),
                    Just("style"),
                    Just("color_palette"),
                    Just("angle")
                ],
                design_value(),
            ),
            0..4,
        ),
        proptest::option::of(prop_oneof![
            design_value(),
            (proptest::option::of(text()), proptest::option::of(text()))
                .prop_map(|(f, a)| json!({"framing": f, "angle": a})),
        ]),
        proptest::option::of(prop_oneof![design_value(), text().prop_map(|q| json!({"quality": q}))]),
        proptest::option::of(text()),
        proptest::option::of(1u32..=8),
        proptest::option::of(options()),
        proptest::option::of(proptest::collection::vec(text(), 0..3)),
    )
        .prop_map(|(fields, camera, lighting, prompt, nv, opts, cats)| {
            let mut o = json!({});
            for (k, v) in fields {
                o[k] = v;
            }
            if let Some(c) = camera {
                o["camera"] = c;
            }
            if let Some(l) = lighting {
                o["lighting"] = l;
            }
            if let Some(p) = prompt {
                o["prompt"] = json!(p);
            }
            if let Some(n) = nv {
                o["num_variations"] = json!(n);
            }
            if let Some(op) = opts {
                o["options"] = op;
            }
            if let Some(c) = cats {
                o["category_names"] = json!(c);
            }
            o
        })
}

fn valid_request() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec((any::<bool>(), proptest::option::of(text())), 1..=10),
        proptest::collection::vec(instruction(), 1..=10),
        prop_oneof![Just(None), Just(Some("auto")), Just(Some("nano_banana_pro")), Just(Some("seedream"))],
        proptest::option::of(any::<bool>()),
        any::<proptest::sample::Index>(),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(images, instructions, model, use_anchor, anchor, legacy, post)| {
            let images: Vec<Value> = images
                .into_iter()
                .enumerate()
                .map(|(i, (annotated, note))| {
                    let id = format!("sku_{i:04}");
                    if annotated { json!({"file_id": id, "note": note}) } else { json!(id) }
                })
                .collect();
            let n = instructions.len();
            let mut options = json!({"anchor_index": anchor.index(n)});
            if let Some(m) = model {
                options["model"] = json!(m);
            }
            if let Some(u) = use_anchor {
                options["use_anchor"] = json!(u);
            }
            // The legacy flag only where it does not contradict the model.
            if legacy && model != Some("nano_banana_pro") {
                options["use_alternative_method"] = json!(true);
            }
            let mut body = json!({"identity_code": "id_x", "project_id": "p", "images": images, "instructions": instructions, "options": options});
            if let Some(p) = post {
                body["post_process"] = json!(p);
            }
            body
        })
}

/// A broken rule: (mutation, the field path the parser must name, whether
/// JSON Schema can express the rule).
fn broken(body: &Value, which: usize) -> (Value, String, bool) {
    let mut b = body.clone();
    let n = b["instructions"].as_array().map_or(0, Vec::len);
    match which {
        0 => {
            b["instructions"][0]["num_variations"] = json!(9);
            (b, "instructions[0].num_variations".into(), true)
        }
        1 => {
            b["instructions"][0]["num_variations"] = json!(0);
            (b, "instructions[0].num_variations".into(), true)
        }
        2 => {
            b["instructions"][0]["options"] = json!({"width": 1024});
            (b, "instructions[0].options.height".into(), true)
        }
        3 => {
            b["instructions"][0]["options"] = json!({"width": 300, "height": 1024});
            (b, "instructions[0].options.width".into(), true)
        }
        4 => {
            b["instructions"][0]["options"] = json!({"width": 7008, "height": 7000});
            (b, "instructions[0].options.width".into(), true)
        }
        5 => {
            b["instructions"][0]["options"] = json!({"size": "8K"});
            (b, "instructions[0].options.size".into(), true)
        }
        6 => {
            b["instructions"][0]["options"] = json!({"ar": "2:1"});
            (b, "instructions[0].options.ar".into(), true)
        }
        7 => {
            b["instructions"][0]["options"] = json!({"format": "gif"});
            (b, "instructions[0].options.format".into(), true)
        }
        8 => {
            b["instructions"][0]["pose"] = json!(true);
            (b, "instructions[0].pose".into(), true)
        }
        9 => {
            b["instructions"][0]["mood"] = json!({"image": "x"});
            (b, "instructions[0].mood.text".into(), true)
        }
        10 => {
            b["images"] = json!([]);
            (b, "images".into(), true)
        }
        11 => {
            b["instructions"] = json!((0..11).map(|_| json!({})).collect::<Vec<_>>());
            b["options"]["anchor_index"] = json!(0);
            (b, "instructions".into(), true)
        }
        12 => {
            b["options"]["model"] = json!("dalle");
            b["options"].as_object_mut().map(|o| o.remove("use_alternative_method"));
            (b, "options.model".into(), true)
        }
        13 => {
            b["post_process"] = json!("yes");
            (b, "post_process".into(), true)
        }
        14 => {
            b.as_object_mut().map(|o| o.remove("project_id"));
            (b, "project_id".into(), true)
        }
        15 => {
            b["options"]["use_anchor"] = json!("no");
            (b, "options.use_anchor".into(), true)
        }
        // The legacy flag beside `options` is typed like the one inside
        // (numbered last so the saved regression seeds keep their cases).
        19 => {
            b["use_alternative_method"] = json!("yes");
            (b, "use_alternative_method".into(), true)
        }
        // Rules a schema cannot state: the parser alone refuses them.
        16 => {
            b["options"]["anchor_index"] = json!(n);
            (b, "options.anchor_index".into(), false)
        }
        17 => {
            b["instructions"][0]["options"] = json!({"width": 4096, "height": 512});
            (b, "instructions[0].options.width".into(), false)
        }
        _ => {
            // The first image again, in the annotated form.
            let first = b["images"][0].clone();
            let id = first.get("file_id").cloned().unwrap_or(first);
            if let Some(images) = b["images"].as_array_mut() {
                if images.len() >= 2 {
                    images[1] = json!({"file_id": id});
                } else {
                    images.push(json!({"file_id": id}));
                }
            }
            (b, "images".into(), false)
        }
    }
}

fn schema_accepts(v: &Value) -> bool {
    Contract::global().validate("job-create-request.json", v).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

    #[test]
    fn every_valid_request_is_accepted_by_both_and_counts_its_outputs(body in valid_request()) {
        prop_assert!(schema_accepts(&body), "schema refused {body}: {:?}", Contract::global().validate("job-create-request.json", &body));
        prop_assert!(rules::job_request(&body).is_empty(), "the contract's rules refused {body}: {:?}", rules::job_request(&body));
        let req = parse(&body, &ParseContext::offline()).map_err(|e| TestCaseError::fail(format!("parser refused {body}: {e:?}")))?;
        let expected: u64 = body["instructions"].as_array().into_iter().flatten().map(|i| i["num_variations"].as_u64().unwrap_or(1)).sum();
        prop_assert_eq!(u64::from(req.total_outputs()), expected);
    }

    #[test]
    fn every_broken_rule_is_refused_with_its_field_path(body in valid_request(), which in 0usize..20) {
        let (bad, field, expressible) = broken(&body, which);
        let errs = parse(&bad, &ParseContext::offline()).expect_err("the parser refuses a broken rule");
        prop_assert!(errs.iter().any(|e| e.field.as_deref().is_some_and(|f| f == field || f.starts_with(&format!("{field}[")))),
            "expected {field} in {:?} for {bad}", errs);
        if expressible {
            // Differential: where JSON Schema can state the rule, the schema
            // refuses exactly what the parser refuses.
            prop_assert!(!schema_accepts(&bad), "the schema accepted {bad} which breaks {field}");
        } else {
            // Where it cannot, the contract's own rules do, naming the field.
            let by_rules = rules::job_request(&bad);
            prop_assert!(by_rules.iter().any(|e| e.field.as_deref().is_some_and(|f| f == field || f.starts_with(&format!("{field}[")))),
                "the contract's rules missed {field} in {bad}: {by_rules:?}");
        }
    }
}

/// One field of a valid request replaced by an arbitrary JSON scalar.
fn one_field_replaced() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-10i64..20_000).prop_map(|n| json!(n)),
        (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
        "[ -~]{0,12}".prop_map(Value::String),
    ];
    let keys = prop_oneof![
        Just("/identity_code"),
        Just("/project_id"),
        Just("/post_process"),
        Just("/options/model"),
        Just("/options/use_anchor"),
        Just("/options/add_ai_watermark"),
        Just("/instructions/0/num_variations"),
        Just("/instructions/0/pose"),
        Just("/instructions/0/prompt"),
        Just("/instructions/0/seed"),
        Just("/instructions/0/preset_name"),
        Just("/instructions/0/options/size"),
        Just("/instructions/0/options/ar"),
        Just("/instructions/0/options/format"),
        Just("/images/0"),
    ];
    (valid_request(), keys, scalar).prop_map(|(mut body, pointer, v)| {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        if let Some(p) = body.pointer_mut(parent) {
            match p {
                Value::Object(o) => {
                    o.insert(key.to_owned(), v);
                }
                Value::Array(a) => {
                    if let Some(slot) = key.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                        *slot = v;
                    }
                }
                _ => {}
            }
        }
        body
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64)))]

    /// The schema accepts exactly what the parser accepts, whatever one field
    /// holds (the request keeps one instruction's options table-sized, so the
    /// rules a schema cannot state do not come into play).
    #[test]
    fn schema_and_parser_agree_whatever_one_field_holds(body in one_field_replaced()) {
        let by_schema = schema_accepts(&body);
        let by_parser = parse(&body, &ParseContext::offline());
        prop_assert_eq!(by_schema, by_parser.is_ok(), "disagree on {}: schema {:?} parser {:?}", body,
            Contract::global().validate("job-create-request.json", &body).err(), by_parser.err());
    }
}
