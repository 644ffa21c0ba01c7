//! A broken rule, as the domain reports it: the field's path and the rule,
//! with no word of HTTP. The handlers say where the field was (the body,
//! the query, a form) and with which status the request is refused.

/// The path of field `name` inside `parent` (`options` and `width` make
/// `options.width`; at the top level, `name` alone).
pub fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's full path (`instructions[1].options.width`), or `None`
    /// when the rule is about the whole input.
    pub field: Option<String>,
    /// The rule (`must be a multiple of 8`).
    pub message: String,
}

impl Violation {
    /// A broken rule of the field at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A broken rule of the whole input.
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) if !field.is_empty() => write!(f, "{field}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}
