//! What every page shares: the templates (embedded, compiled once), the
//! rendering into HTML, the answer of a form (303 back to its page), and
//! the reading of a form's fields.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError, Position};

/// Every template, by name: the layout and one a page. A name ending in
/// `.html` escapes every value it prints.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("jobs.html", include_str!("templates/jobs.html")),
    ("job.html", include_str!("templates/job.html")),
    ("notifications.html", include_str!("templates/notifications.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("journal.html", include_str!("templates/journal.html")),
    ("scenarios.html", include_str!("templates/scenarios.html")),
    ("clock.html", include_str!("templates/clock.html")),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // A template that does not parse is a bug of this crate, caught
            // by `every_template_parses` below; it then renders as a 500.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a dashboard template does not parse");
            }
        }
        env
    })
}

/// Page `name` rendered with `ctx`; a template error is a 500 in the
/// envelope (never a half page).
pub(super) fn render(name: &str, ctx: impl serde::Serialize) -> Response {
    let html = templates()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&ctx)));
    match html {
        Ok(html) => ([(CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// The answer to a form that did its work: back to `page`, so a reload
/// does not post it again.
/// The entries of the control API answer's array `key`, newest first (the
/// control API lists oldest first; a page shows the latest at the top).
pub(super) fn newest_first<'a>(
    answer: &'a serde_json::Value,
    key: &str,
) -> impl Iterator<Item = &'a serde_json::Value> {
    answer[key].as_array().into_iter().flatten().rev()
}

pub(super) fn see_other(page: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, page.to_owned())]).into_response()
}

/// A form body (`application/x-www-form-urlencoded`) parsed into `T`;
/// errors name the field, placed in the body.
pub(super) fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid_field("body", "must be a UTF-8 form", Position::Body))?;
    crate::http::extract::parse_query(text).map_err(|e| {
        ApiError::invalid(
            e.detail()
                .iter()
                .map(|d| FieldError {
                    position: Position::Body,
                    ..d.clone()
                })
                .collect(),
        )
    })
}

/// An empty form field is a field not given (a `<select>`'s "none").
pub(super) fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let env = templates();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name} does not parse");
        }
    }

    #[test]
    fn values_are_escaped() {
        let t = templates().get_template("base.html").expect("the layout");
        let html = t
            .render(minijinja::context! { title => "<b>x</b>", page => "jobs" })
            .expect("renders");
        assert!(html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;"), "{html}");
    }
}
