//! An output's pixel size: the documented size × aspect-ratio table, or
//! custom dimensions; and its format.

/// Smallest custom side.
pub const MIN_CUSTOM_SIDE: u32 = 256;
/// Largest custom side.
pub const MAX_CUSTOM_SIDE: u32 = 7000;

/// `options.size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    /// Long side 1024.
    K1,
    /// Long side 2048.
    K2,
    /// Long side 4096.
    K4,
}

impl Size {
    /// All sizes with their wire names.
    pub const ALL: [(Self, &'static str); 3] = [(Self::K1, "1K"), (Self::K2, "2K"), (Self::K4, "4K")];

    /// The long side in pixels.
    pub fn long_side(self) -> u32 {
        match self {
            Self::K1 => 1024,
            Self::K2 => 2048,
            Self::K4 => 4096,
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map_or("1K", |(_, n)| n)
    }
}

/// `options.ar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AspectRatio {
    /// 1:1.
    Square,
    /// 3:4 (portrait).
    R3x4,
    /// 4:3.
    R4x3,
    /// 9:16 (portrait).
    R9x16,
    /// 16:9.
    R16x9,
}

impl AspectRatio {
    /// All ratios with their wire names.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Square, "1:1"),
        (Self::R3x4, "3:4"),
        (Self::R4x3, "4:3"),
        (Self::R9x16, "9:16"),
        (Self::R16x9, "16:9"),
    ];

    /// (width part, height part).
    pub fn parts(self) -> (u32, u32) {
        match self {
            Self::Square => (1, 1),
            Self::R3x4 => (3, 4),
            Self::R4x3 => (4, 3),
            Self::R9x16 => (9, 16),
            Self::R16x9 => (16, 9),
        }
    }

    /// The wire name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(r, _)| *r == self).map_or("1:1", |(_, n)| n)
    }
}

/// The documented size table: the long side is 1024/2048/4096, the short
/// side follows the ratio, rounded down to a multiple of 8.
pub fn table_dimensions(size: Size, ar: AspectRatio) -> (u32, u32) {
    let long = size.long_side();
    let (w, h) = ar.parts();
    let short = |a: u32, b: u32| (long * a / b) / 8 * 8;
    if w >= h {
        (long, short(h, w))
    } else {
        (short(w, h), long)
    }
}

/// `options.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG.
    Jpg,
    /// PNG.
    Png,
}

impl Format {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpg => "jpg",
            Self::Png => "png",
        }
    }
}

/// Custom `width` × `height`: both 256–7000, multiples of 8, ratio within
/// 1:4 … 4:1. Only [`CustomDimensions::new`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomDimensions {
    width: u32,
    height: u32,
}

impl CustomDimensions {
    /// One side's rule: between 256 and 7000, a multiple of 8.
    pub fn side(n: i64) -> Result<u32, String> {
        if !(i64::from(MIN_CUSTOM_SIDE)..=i64::from(MAX_CUSTOM_SIDE)).contains(&n) {
            return Err(format!("must be between {MIN_CUSTOM_SIDE} and {MAX_CUSTOM_SIDE}"));
        }
        if n % 8 != 0 {
            return Err("must be a multiple of 8".to_owned());
        }
        u32::try_from(n).map_err(|_| "must be a multiple of 8".to_owned())
    }

    /// `width` × `height`: each side's rule, then a ratio within 1:4 … 4:1.
    pub fn new(width: u32, height: u32) -> Result<Self, String> {
        Self::side(width.into())?;
        Self::side(height.into())?;
        if width > 4 * height || height > 4 * width {
            return Err(format!(
                "width/height ratio {width}:{height} must be between 1:4 and 4:1"
            ));
        }
        Ok(Self { width, height })
    }

    /// Width in pixels.
    pub fn width(self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(self) -> u32 {
        self.height
    }
}

/// Where an output's pixel size comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geometry {
    /// The size × aspect-ratio table.
    Table(Size, AspectRatio),
    /// Custom width × height (overrides size and ar).
    Custom(CustomDimensions),
}

impl Geometry {
    /// (width, height) in pixels.
    pub fn pixels(self) -> (u32, u32) {
        match self {
            Self::Table(s, ar) => table_dimensions(s, ar),
            Self::Custom(c) => (c.width, c.height),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_table_keeps_the_long_side_and_multiples_of_8() {
        assert_eq!(table_dimensions(Size::K2, AspectRatio::R9x16), (1152, 2048));
        assert_eq!(table_dimensions(Size::K2, AspectRatio::R3x4), (1536, 2048));
        assert_eq!(table_dimensions(Size::K1, AspectRatio::R16x9), (1024, 576));
        assert_eq!(table_dimensions(Size::K4, AspectRatio::Square), (4096, 4096));
        for (s, _) in Size::ALL {
            for (ar, _) in AspectRatio::ALL {
                let (w, h) = table_dimensions(s, ar);
                assert_eq!((w % 8, h % 8), (0, 0));
                assert_eq!(w.max(h), s.long_side());
            }
        }
    }
}
