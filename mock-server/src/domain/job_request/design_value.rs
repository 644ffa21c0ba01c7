//! A "Design Value" (a descriptor) in its three shapes, and the two fields
//! that also take a structured form: `camera` and `lighting`.

/// A "Design Value": a descriptor in one of three shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesignValue {
    /// A plain string.
    Text(String),
    /// An integer index of a saved Design Value, resolved.
    Saved {
        /// The index the request gave.
        index: i64,
        /// The saved text.
        text: String,
        /// The saved reference image, if any.
        image: Option<String>,
    },
    /// `{text, image}`.
    Object {
        /// The descriptor.
        text: String,
        /// A reference image UUID.
        image: Option<String>,
    },
}

impl DesignValue {
    /// The descriptor text whatever the shape.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) | Self::Saved { text: t, .. } | Self::Object { text: t, .. } => t,
        }
    }
}

/// `camera`: a Design Value or `{framing, angle, lens, aperture}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Camera {
    /// A descriptor.
    Descriptor(DesignValue),
    /// The structured form; every sub-field optional.
    Structured {
        /// Framing (`full body`).
        framing: Option<String>,
        /// Angle (`eye level`).
        angle: Option<String>,
        /// Lens (`50mm`).
        lens: Option<String>,
        /// Aperture (`f/2.8`).
        aperture: Option<String>,
    },
}

/// `lighting`: a Design Value or `{direction, quality, complexity}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lighting {
    /// A descriptor.
    Descriptor(DesignValue),
    /// The structured form; every sub-field optional.
    Structured {
        /// Direction.
        direction: Option<String>,
        /// Quality.
        quality: Option<String>,
        /// Complexity.
        complexity: Option<String>,
    },
}

/// A saved Design Value that an instruction can reference by its integer
/// `index`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedDesignValue {
    /// The integer a request uses to reference it.
    pub index: i64,
    /// Which field it is meant for (`pose`, `background`, …); informative.
    #[serde(default)]
    pub category: Option<String>,
    /// The descriptor text.
    pub text: String,
    /// An optional reference image UUID.
    #[serde(default)]
    pub image: Option<String>,
}
