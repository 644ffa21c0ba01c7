//! The one rule of every free text a client names things with: project and
//! identity names, tags, file names, descriptors, notes. Not empty (unless
//! allowed), at most so many characters, and no control characters (only
//! descriptors and prompts may hold line breaks and tabs).

/// What a text may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// The most characters.
    pub max: usize,
    /// Whether an empty (or blank) text passes.
    pub empty: bool,
    /// Whether `\n` and `\t` pass (multi-line descriptors and prompts).
    pub lines: bool,
}

/// How a text broke its [`TextRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// Empty or blank.
    Empty,
    /// Longer than the rule's `max` characters.
    TooLong(usize),
    /// Holds a control character.
    Control,
}

impl Broken {
    /// The rule, as the error envelope says it.
    pub fn message(self) -> String {
        match self {
            Self::Empty => "must not be empty".to_owned(),
            Self::TooLong(max) => format!("must be at most {max} characters"),
            Self::Control => "must not contain control characters".to_owned(),
        }
    }
}

impl TextRule {
    /// One line of at most `max` characters, not empty.
    pub const fn line(max: usize) -> Self {
        Self {
            max,
            empty: false,
            lines: false,
        }
    }

    /// The same rule, letting an empty text pass.
    pub const fn or_empty(self) -> Self {
        Self { empty: true, ..self }
    }

    /// The same rule, letting line breaks and tabs pass.
    pub const fn multiline(self) -> Self {
        Self { lines: true, ..self }
    }

    /// Checks `s`: emptiness first, then its length, then its characters.
    pub fn check(self, s: &str) -> Result<(), Broken> {
        if !self.empty && s.trim().is_empty() {
            return Err(Broken::Empty);
        }
        if s.chars().count() > self.max {
            return Err(Broken::TooLong(self.max));
        }
        let allowed = |c: char| self.lines && (c == '\n' || c == '\t');
        if s.chars().any(|c| c.is_control() && !allowed(c)) {
            return Err(Broken::Control);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emptiness_then_length_then_characters() {
        let rule = TextRule::line(3);
        assert_eq!(rule.check(" "), Err(Broken::Empty));
        assert_eq!(rule.or_empty().check(" "), Ok(()));
        assert_eq!(rule.check("abcd\u{7}"), Err(Broken::TooLong(3)));
        assert_eq!(rule.check("é\u{1}"), Err(Broken::Control));
        assert_eq!(rule.check("a\nb"), Err(Broken::Control));
        assert_eq!(rule.multiline().check("a\nb"), Ok(()));
        assert_eq!(rule.multiline().check("a\rb"), Err(Broken::Control));
        assert_eq!(rule.check("ééé"), Ok(()), "characters, not bytes");
        assert_eq!(Broken::TooLong(200).message(), "must be at most 200 characters");
    }
}
