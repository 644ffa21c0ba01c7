//! The committed contract: the JSON Schemas and `openapi.yaml` of `schemas/`,
//! embedded at build time. A crate of its own, so that the fake
//! (`mock-server`) and the harness (`contract-tests`) share it without the
//! harness linking the fake: the harness checks servers, the fake among
//! them, and must not trust the fake's code. The fake's tests validate every
//! body they receive with it; `contract-tests` validates other servers and
//! clients' payloads with it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

pub mod har;
pub mod profile;
pub mod rules;

use jsonschema::{Retrieve, Uri, Validator};
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/schemas.rs"));

/// The base URI the schemas' relative `$ref`s resolve against.
pub const SCHEMA_BASE: &str = "https://flat2model-mock.local/schemas/";

/// The file of the vendor API's OpenAPI document in `schemas/`.
pub const VENDOR_DOCUMENT: &str = "openapi.yaml";
/// The file of the control API's (`/__admin`) OpenAPI document.
pub const CONTROL_DOCUMENT: &str = "control-openapi.yaml";

/// One of the two published OpenAPI documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// The vendor's API as the fake serves it (`openapi.yaml`).
    Vendor,
    /// The fake's own control API under `/__admin` (`control-openapi.yaml`).
    Control,
}

/// The compiled schemas and the OpenAPI documents.
pub struct Contract {
    validators: HashMap<&'static str, Validator>,
    /// Both documents' paths and components in one, for looking operations
    /// up by method and path whichever document states them.
    openapi: Value,
    /// The vendor document and the control document, as committed.
    documents: [Value; 2],
    bundled: [OnceLock<Value>; 2],
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
        let mut yaml: HashMap<&str, Value> = HashMap::new();
        for (name, text) in SCHEMA_FILES {
            if name.ends_with(".yaml") {
                let doc = serde_yaml_ng::from_str(text).map_err(|e| ContractError(format!("{name}: {e}")))?;
                yaml.insert(*name, doc);
            } else {
                let v: Value = serde_json::from_str(text).map_err(|e| ContractError(format!("{name}: {e}")))?;
                documents.insert(*name, v);
            }
        }
        let mut take = |name: &str| {
            yaml.remove(name)
                .ok_or_else(|| ContractError(format!("{name} is missing")))
        };
        let published = [take(VENDOR_DOCUMENT)?, take(CONTROL_DOCUMENT)?];
        if let Some(name) = yaml.keys().next() {
            return Err(ContractError(format!(
                "{name}: only {VENDOR_DOCUMENT} and {CONTROL_DOCUMENT} are documents"
            )));
        }
        let openapi = merged(&published)?;
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
            // An operation without its own `security` has its document's;
            // an alternative `{}` makes credentials optional (the control
            // API's token, needed only with --admin-token).
            let document = published
                .iter()
                .find(|d| d["paths"].get(t.as_str()).is_some())
                .unwrap_or(&openapi);
            let security = op.get("security").unwrap_or(&document["security"]);
            if security
                .as_array()
                .is_some_and(|s| !s.is_empty() && s.iter().all(|alt| alt.as_object().is_some_and(|a| !a.is_empty())))
            {
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
            documents: published,
            bundled: [OnceLock::new(), OnceLock::new()],
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

    /// A published document with every schema file it uses inlined under
    /// `components/schemas` and every `$ref` made local, so tools that want
    /// one self-contained document (Schemathesis, Prism) can load it from
    /// `/__admin/openapi.json` (the vendor API) or
    /// `/__admin/control-openapi.json` (the control API).
    pub fn bundled(&self, which: Document) -> &Value {
        let i = which as usize;
        self.bundled[i].get_or_init(|| bundle(&self.documents[i]))
    }

    /// A published document as committed (`schemas/openapi.yaml` or
    /// `schemas/control-openapi.yaml`).
    pub fn document(&self, which: Document) -> &Value {
        &self.documents[which as usize]
    }

    /// Both documents' operations in one document (paths and components):
    /// what lookups by method and path read.
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

/// The two documents' paths and components in one. A path in both, or a
/// component of one name that differs between them, is an error: lookups
/// by path must not depend on which document is read.
fn merged(documents: &[Value; 2]) -> Result<Value, ContractError> {
    let mut merged = documents[0].clone();
    for (section, value) in documents[1].as_object().into_iter().flatten() {
        let (Some(theirs), Some(ours)) = (
            value.as_object(),
            merged.get_mut(section.as_str()).and_then(Value::as_object_mut),
        ) else {
            continue;
        };
        for (key, item) in theirs {
            let nested = section == "components";
            match ours.get_mut(key) {
                None => {
                    ours.insert(key.clone(), item.clone());
                }
                Some(Value::Object(mine)) if nested => {
                    for (name, component) in item.as_object().into_iter().flatten() {
                        match mine.get(name) {
                            Some(existing) if existing != component => {
                                return Err(ContractError(format!(
                                    "components/{key}/{name} differs between {VENDOR_DOCUMENT} and {CONTROL_DOCUMENT}"
                                )));
                            }
                            _ => {
                                mine.insert(name.clone(), component.clone());
                            }
                        }
                    }
                }
                Some(_) if section == "paths" => {
                    return Err(ContractError(format!(
                        "{key} is in both {VENDOR_DOCUMENT} and {CONTROL_DOCUMENT}"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    Ok(merged)
}

/// `doc` with the schema files it reaches (through its own `$ref`s and
/// theirs) inlined under `components/schemas`, every `$ref` made local.
fn bundle(doc: &Value) -> Value {
    let files: HashMap<&str, &str> = SCHEMA_FILES.iter().copied().collect();
    let mut reached = std::collections::BTreeSet::new();
    let mut queue = Vec::new();
    referenced_files(doc, &mut queue);
    while let Some(file) = queue.pop() {
        if !reached.insert(file.clone()) {
            continue;
        }
        if let Some(v) = files
            .get(file.as_str())
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
        {
            referenced_files(&v, &mut queue);
        }
    }
    let mut doc = doc.clone();
    rewrite_refs(&mut doc, None);
    let mut schemas = serde_json::Map::new();
    for name in &reached {
        let (Some(stem), Some(text)) = (name.strip_suffix(".json"), files.get(name.as_str())) else {
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
}

/// Pushes the schema files `v`'s `$ref`s name (`./x.json#/p`, `x.json`).
fn referenced_files(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => {
                        let file = r.trim_start_matches("./").split('#').next().unwrap_or("");
                        if file.ends_with(".json") {
                            out.push(file.to_owned());
                        }
                    }
                    _ => referenced_files(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|c| referenced_files(c, out)),
        _ => {}
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
        // Pre-signed routes say `security: []`; the control document's
        // token is optional.
        assert!(!c.needs_credentials("PUT", "/upload/{file_id}"));
        assert!(!c.needs_credentials("GET", "/__admin/health"));
        assert!(!c.needs_credentials("POST", "/__admin/tenants"));
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
    fn the_bundled_documents_have_only_local_refs_that_resolve() {
        let c = Contract::global();
        for which in [Document::Vendor, Document::Control] {
            let doc = c.bundled(which);
            let text = doc.to_string();
            let mut refs = 0;
            for part in text.split("\"$ref\":\"").skip(1) {
                let r = part.split('"').next().expect("ref");
                let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local ref {r}"));
                assert!(doc.pointer(pointer).is_some(), "{which:?}: {r} does not resolve");
                refs += 1;
            }
            assert!(refs > 50, "{which:?}: {refs} refs");
            // Every inlined schema still compiles as a whole document.
            for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
                let mut root = doc.clone();
                root["$ref"] = Value::String(format!("#/components/schemas/{name}"));
                jsonschema::options()
                    .build(&root)
                    .unwrap_or_else(|e| panic!("{which:?} {name}: {e}"));
                assert!(schema.is_object());
            }
        }
    }

    #[test]
    fn each_document_holds_its_own_api_and_only_the_schemas_it_uses() {
        let c = Contract::global();
        let paths = |which| {
            c.bundled(which)["paths"]
                .as_object()
                .expect("paths")
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        let (vendor, control) = (paths(Document::Vendor), paths(Document::Control));
        assert!(vendor.iter().all(|p| !p.starts_with("/__admin")), "{vendor:?}");
        assert!(control.iter().all(|p| p.starts_with("/__admin/")), "{control:?}");
        assert!(vendor.contains(&"/flat-2-model".to_owned()));
        assert!(control.contains(&"/__admin/control-openapi.json".to_owned()));
        let both =
            operations_of(c.document(Document::Vendor)).len() + operations_of(c.document(Document::Control)).len();
        assert_eq!(c.operations().len(), both, "lookups see every operation of both");
        let schemas = |which| c.bundled(which)["components"]["schemas"].clone();
        assert!(schemas(Document::Vendor)["job-create-request"].is_object());
        assert!(schemas(Document::Vendor)["admin-job-response"].is_null());
        assert!(schemas(Document::Control)["admin-job-response"].is_object());
        assert!(schemas(Document::Control)["job-create-request"].is_null());
    }

    /// Every `example` next to a schema file, visited with its file.
    fn examples<'a>(v: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
        match v {
            Value::Object(map) => {
                if let (Some(file), Some(example)) =
                    (map.get("schema").and_then(|s| s["$ref"].as_str()), map.get("example"))
                {
                    out.push((file.trim_start_matches("./"), example));
                }
                map.values().for_each(|c| examples(c, out));
            }
            Value::Array(items) => items.iter().for_each(|c| examples(c, out)),
            _ => {}
        }
    }

    #[test]
    fn every_example_is_valid_and_every_link_reaches_an_operation_with_what_it_sets() {
        let c = Contract::global();
        let mut found = Vec::new();
        for which in [Document::Vendor, Document::Control] {
            examples(c.document(which), &mut found);
        }
        assert!(found.len() >= 10, "{} examples", found.len());
        for (file, example) in found {
            c.validate(file, example)
                .unwrap_or_else(|e| panic!("the example of {file} breaks it: {e:?}"));
        }
        let doc = c.document(Document::Vendor);
        let ops: HashMap<&str, &Value> = doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|paths| paths.values())
            .flat_map(|item| item.as_object().into_iter().flat_map(|m| m.values()))
            .filter_map(|op| Some((op.get("operationId")?.as_str()?, op)))
            .collect();
        let mut links = 0;
        for op in ops.values() {
            for response in op["responses"].as_object().into_iter().flat_map(|r| r.values()) {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().expect("operationId");
                    let target = ops
                        .get(target)
                        .unwrap_or_else(|| panic!("{name}: no operation {target}"));
                    let declared: Vec<&str> = target["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|p| c.resolve(p)["name"].as_str().expect("name"))
                        .collect();
                    for parameter in link["parameters"].as_object().into_iter().flat_map(|p| p.keys()) {
                        // `path.id`, `query.Expires`: a location may be named.
                        let bare = parameter.split_once('.').map_or(parameter.as_str(), |(_, n)| n);
                        // OpenAPI never declares Content-Type as a parameter:
                        // a link may set it where the target takes a body.
                        let content_type = parameter == "header.Content-Type" && target.get("requestBody").is_some();
                        assert!(
                            content_type || declared.contains(&bare),
                            "{name}: the target has no {parameter}"
                        );
                    }
                    if let Some(body) = link.get("requestBody").and_then(Value::as_object) {
                        let file = target
                            .pointer("/requestBody/content/application~1json/schema/$ref")
                            .and_then(Value::as_str)
                            .unwrap_or_else(|| panic!("{name}: the target takes no JSON body"))
                            .trim_start_matches("./");
                        let schema: Value =
                            serde_json::from_str(SCHEMA_FILES.iter().find(|(n, _)| *n == file).expect("file").1)
                                .expect("json");
                        for key in body.keys() {
                            assert!(schema["properties"].get(key).is_some(), "{name}: {file} has no {key}");
                        }
                    }
                    links += 1;
                }
            }
        }
        assert!(links >= 15, "{links} links");
        let hook = &doc["webhooks"]["notification"]["post"];
        assert_eq!(
            hook["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "./notification.json"
        );
    }

    #[test]
    fn documents_that_disagree_on_a_path_or_a_component_are_refused() {
        let c = Contract::global();
        let [vendor, control] = [
            c.document(Document::Vendor).clone(),
            c.document(Document::Control).clone(),
        ];
        let mut twice = control.clone();
        twice["paths"]["/flat-2-model"] = vendor["paths"]["/flat-2-model"].clone();
        assert!(merged(&[vendor.clone(), twice]).is_err());
        let mut other_error = control.clone();
        other_error["components"]["responses"]["Error"]["description"] = "something else".into();
        assert!(merged(&[vendor.clone(), other_error]).is_err());
        assert!(merged(&[vendor, control]).is_ok());
    }
}
