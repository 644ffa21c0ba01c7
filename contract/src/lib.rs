//! The committed contract: the JSON Schemas and `openapi.yaml` of `schemas/`,
//! embedded at build time. A crate of its own, so that the fake
//! (`mock-server`) and the harness (`contract-tests`) share it without the
//! harness linking the fake: the harness checks servers, the fake among
//! them, and must not trust the fake's code. The fake's tests validate every
//! body they receive with it; `contract-tests` validates other servers and
//! clients' payloads with it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

pub mod profile;
pub mod rules;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/schemas.rs"));

/// The base URI the schemas' relative `$ref`s resolve against.
pub const SCHEMA_BASE: &str = "https://flat2model-mock.local/schemas/";

/// The compiled schemas and the OpenAPI document.
pub struct Contract {
    validators: HashMap<&'static str, Validator>,
    openapi: Value,
    bundled: OnceLock<Value>,
    /// (METHOD, path template), sorted: read once, as every request's
    /// journal entry looks its operation up.
    operations: Vec<(String, String)>,
    /// METHOD → path template → the schema file of its JSON request body
    /// (nested, so a lookup borrows its keys).
    request_schemas: HashMap<String, HashMap<String, String>>,
    /// METHOD → the path templates whose `security` asks for credentials
    /// (the document's default unless the operation says `security: []`).
    guarded: HashMap<String, std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("schemas", &self.validators.len())
            .finish()
    }
}

/// Serves `$ref`s to sibling schema files from the embedded copies.
struct EmbeddedRetriever(Arc<HashMap<&'static str, Value>>);

impl Retrieve for EmbeddedRetriever {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let s = uri.as_str();
        let name = s
            .strip_prefix(SCHEMA_BASE)
            .ok_or_else(|| format!("no such schema: {s}"))?;
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no such schema: {name}").into())
    }
}

/// One way a JSON value breaks a schema: where (the field path the API
/// names, `instructions[1].options.width`; `None` when it is not about one
/// field) and which rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The full path of the offending value.
    pub field: Option<String>,
    /// The rule broken, in the validator's words.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !field.is_empty() => write!(f, "{field}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

/// A schema file that failed to load or compile.
#[derive(Debug)]
pub struct ContractError(pub String);

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Contract {
    /// Compiles every schema; an error names the broken file.
    pub fn load() -> Result<Self, ContractError> {
        let mut documents = HashMap::new();
        let mut openapi = Value::Null;
        for (name, text) in SCHEMA_FILES {
            if name.ends_with(".yaml") {
                openapi = serde_yaml_ng::from_str(text).map_err(|e| ContractError(format!("{name}: {e}")))?;
            } else {
                let v: Value = serde_json::from_str(text).map_err(|e| ContractError(format!("{name}: {e}")))?;
                documents.insert(*name, v);
            }
        }
        let documents = Arc::new(documents);
        let mut validators = HashMap::new();
        for (name, schema) in documents.iter() {
            let v = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .with_base_uri(format!("{SCHEMA_BASE}{name}"))
                .with_retriever(EmbeddedRetriever(documents.clone()))
                .should_validate_formats(true)
                .build(schema)
                .map_err(|e| ContractError(format!("{name}: {e}")))?;
            validators.insert(*name, v);
        }
        let operations = operations_of(&openapi);
        let mut request_schemas: HashMap<String, HashMap<String, String>> = HashMap::new();
        let mut guarded: HashMap<String, std::collections::HashSet<String>> = HashMap::new();
        for (m, t) in &operations {
            let op = &openapi["paths"][t.as_str()][m.to_lowercase()];
            let security = op.get("security").unwrap_or(&openapi["security"]);
            if security.as_array().is_some_and(|s| !s.is_empty()) {
                guarded.entry(m.clone()).or_default().insert(t.clone());
            }
            let file = op
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.trim_start_matches("./").split('#').next());
            if let Some(file) = file {
                request_schemas
                    .entry(m.clone())
                    .or_default()
                    .insert(t.clone(), file.to_owned());
            }
        }
        Ok(Self {
            validators,
            openapi,
            bundled: OnceLock::new(),
            operations,
            request_schemas,
            guarded,
        })
    }

    /// The contract, compiled once per process. Panics only if a committed
    /// schema is broken, which `contract_loads` in the tests catches first.
    pub fn global() -> &'static Contract {
        static CONTRACT: OnceLock<Contract> = OnceLock::new();
        CONTRACT.get_or_init(|| Contract::load().unwrap_or_else(|e| panic!("schemas/ is broken: {e}")))
    }

    /// The names of the JSON Schemas (`error.json`, …), sorted.
    pub fn schema_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.validators.keys().copied().collect();
        names.sort_unstable();
        names
    }

    /// Whether a schema of that name exists.
    pub fn has_schema(&self, name: &str) -> bool {
        self.validators.contains_key(name)
    }

    /// Validates `instance` against the schema `name`; each violation comes
    /// back with the field path the server itself would name.
    pub fn validate(&self, name: &str, instance: &Value) -> Result<(), Vec<Violation>> {
        let errors = self.first_errors(name, instance, usize::MAX);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Like [`Contract::validate`], but stops after `limit` violations: a
    /// hostile body (an array of 500,000 wrong items) would otherwise make
    /// one for each.
    pub fn first_errors(&self, name: &str, instance: &Value, limit: usize) -> Vec<Violation> {
        let Some(v) = self.validators.get(name) else {
            return vec![Violation {
                field: None,
                message: format!("no schema named {name}"),
            }];
        };
        v.iter_errors(instance)
            .take(limit)
            .map(|e| Violation {
                field: Some(pointer_to_path(e.instance_path().as_str())),
                message: e.to_string(),
            })
            .collect()
    }

    /// The OpenAPI document with every schema file inlined under
    /// `components/schemas` and every `$ref` made local, so tools that want
    /// one self-contained document (Schemathesis, Prism) can load it from
    /// `/__admin/openapi.json`.
    pub fn bundled(&self) -> &Value {
        self.bundled.get_or_init(|| {
            let mut doc = self.openapi.clone();
            rewrite_refs(&mut doc, None);
            let mut schemas = serde_json::Map::new();
            for (name, text) in SCHEMA_FILES {
                let Some(stem) = name.strip_suffix(".json") else {
                    continue;
                };
                let Ok(mut v) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                rewrite_refs(&mut v, Some(stem));
                if let Some(o) = v.as_object_mut() {
                    o.remove("$schema");
                }
                schemas.insert(stem.to_owned(), v);
            }
            if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
                components.insert("schemas".into(), Value::Object(schemas));
            }
            doc
        })
    }

    /// The OpenAPI document (`schemas/openapi.yaml`).
    pub fn openapi(&self) -> &Value {
        &self.openapi
    }

    /// The OpenAPI operations as (METHOD, path template), e.g.
    /// (`GET`, `/jobs/{id}/status`).
    pub fn operations(&self) -> Vec<(String, String)> {
        self.operations.clone()
    }

    /// The path template of the operation `method path` is an instance of.
    fn template_of(&self, method: &str, path: &str) -> Option<&str> {
        self.operations
            .iter()
            .find(|(m, t)| m == method && template_matches(t, path))
            .map(|(_, t)| t.as_str())
    }

    /// The JSON Schema of a JSON request body of `method path`, if any.
    pub fn request_schema(&self, method: &str, path: &str) -> Option<String> {
        let template = self.template_of(method, path)?;
        self.request_schema_of(method, template).map(str::to_owned)
    }

    /// Like [`Self::request_schema`], from the path template the router
    /// matched: one hash lookup, for the per-request journal.
    pub fn request_schema_of(&self, method: &str, template: &str) -> Option<&str> {
        self.request_schemas
            .get(method)
            .and_then(|by_template| by_template.get(template))
            .map(String::as_str)
    }

    /// Whether the operation `method template` needs credentials (its
    /// `security`): one hash lookup, for the per-request journal.
    pub fn needs_credentials(&self, method: &str, template: &str) -> bool {
        self.guarded.get(method).is_some_and(|t| t.contains(template))
    }

    /// Follows a local `$ref` (`#/components/responses/Error`) inside the
    /// OpenAPI document; anything else is returned as it is.
    pub fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| self.openapi.pointer(p))
            .unwrap_or(v)
    }

    /// The schema file that the OpenAPI document names for a JSON response
    /// to `method path` with `status`; `None` when it declares none.
    pub fn response_schema(&self, method: &str, path: &str, status: u16) -> Option<String> {
        let template = self.template_of(method, path)?;
        let op = &self.openapi["paths"][template][method.to_lowercase()];
        let responses = op.get("responses")?;
        let range = format!("{}XX", status / 100);
        let response = self.resolve(
            responses
                .get(status.to_string())
                .or_else(|| responses.get(&range))
                .or_else(|| responses.get("default"))?,
        );
        let reference = response.pointer("/content/application~1json/schema/$ref")?.as_str()?;
        Some(reference.trim_start_matches("./").split('#').next()?.to_owned())
    }
}

/// The operations an OpenAPI document declares, sorted.
fn operations_of(openapi: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    if let Some(paths) = openapi.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                if item.get(method).is_some() {
                    ops.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    ops.sort();
    ops
}

/// Rewrites `$ref`s for the bundled document: `./x.json#/p` and `x.json#/p`
/// become `#/components/schemas/x/p`; inside schema `owner`, a local `#/p`
/// becomes `#/components/schemas/owner/p`.
fn rewrite_refs(v: &mut Value, owner: Option<&str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(r) = child
                {
                    let target = r.trim_start_matches("./");
                    let (file, frag) = target.split_once('#').unwrap_or((target, ""));
                    if let Some(stem) = file.strip_suffix(".json") {
                        *r = format!("#/components/schemas/{stem}{frag}");
                    } else if file.is_empty()
                        && let Some(owner) = owner
                    {
                        *r = format!("#/components/schemas/{owner}{frag}");
                    }
                } else {
                    rewrite_refs(child, owner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| rewrite_refs(c, owner)),
        _ => {}
    }
}

/// Whether a concrete path (`/jobs/job_1/status`) fits an OpenAPI template
/// (`/jobs/{id}/status`).
pub fn template_matches(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

/// Turns a JSON pointer (`/instructions/1/options/width`) into the field
/// path the API names (`instructions[1].options.width`).
pub fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_loads() {
        let c = Contract::load().expect("every schema compiles");
        assert!(c.has_schema("error.json"));
        assert!(!c.operations().is_empty());
    }

    #[test]
    fn operations_know_whether_they_need_credentials() {
        let c = Contract::global();
        assert!(c.needs_credentials("POST", "/flat-2-model"));
        assert!(c.needs_credentials("GET", "/jobs/{id}/status"));
        // Basic auth is credentials too.
        assert!(c.needs_credentials("POST", "/auth/login"));
        // Pre-signed and control routes say `security: []`.
        assert!(!c.needs_credentials("GET", "/__admin/health"));
        assert!(!c.needs_credentials("GET", "/nowhere"));
    }

    #[test]
    fn pointers_become_field_paths() {
        assert_eq!(
            pointer_to_path("/instructions/1/options/width"),
            "instructions[1].options.width"
        );
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/images/0"), "images[0]");
    }

    #[test]
    fn templates_match_concrete_paths() {
        assert!(template_matches("/jobs/{id}/status", "/jobs/job_1/status"));
        assert!(!template_matches("/jobs/{id}/status", "/jobs//status"));
        assert!(!template_matches("/jobs/{id}/status", "/jobs/job_1/results"));
        assert!(template_matches("/project", "/project?per_page=100"));
    }

    #[test]
    fn the_bundled_document_has_only_local_refs_that_resolve() {
        let c = Contract::global();
        let doc = c.bundled();
        let text = doc.to_string();
        let mut refs = 0;
        for part in text.split("\"$ref\":\"").skip(1) {
            let r = part.split('"').next().expect("ref");
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local ref {r}"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
            refs += 1;
        }
        assert!(refs > 100);
        // Every inlined schema still compiles as a whole document.
        for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
            let mut root = doc.clone();
            root["$ref"] = Value::String(format!("#/components/schemas/{name}"));
            jsonschema::options()
                .build(&root)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(schema.is_object());
        }
    }
}
