//! A tiny 5x7 bitmap font with exactly the glyphs the disclosure mark needs.

/// Glyph width in font pixels.
pub(crate) const GLYPH_W: u32 = 5;
/// Glyph height in font pixels.
pub(crate) const GLYPH_H: u32 = 7;
/// Blank columns between two glyphs.
pub(crate) const SPACING: u32 = 1;

/// One row per entry, top to bottom; bit 4 is the leftmost column.
type Glyph = [u8; GLYPH_H as usize];

const A: Glyph = [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001];
const D: Glyph = [0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100];
const E: Glyph = [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111];
const G: Glyph = [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111];
const I: Glyph = [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110];
const N: Glyph = [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001];
const R: Glyph = [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001];
const T: Glyph = [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100];
const HYPHEN: Glyph = [0, 0, 0, 0b01110, 0, 0, 0];
const BLANK: Glyph = [0; GLYPH_H as usize];

fn glyph(c: char) -> &'static Glyph {
    match c {
        'A' => &A,
        'D' => &D,
        'E' => &E,
        'G' => &G,
        'I' => &I,
        'N' => &N,
        'R' => &R,
        'T' => &T,
        '-' => &HYPHEN,
        _ => &BLANK,
    }
}

/// Width of `text` in font pixels (no trailing spacing).
pub(crate) fn text_width(text: &str) -> u32 {
    let n = text.chars().count() as u32;
    if n == 0 { 0 } else { n * (GLYPH_W + SPACING) - SPACING }
}

/// Whether the font pixel (`x`, `y`) of `text`, laid out on one line from (0, 0), is lit.
pub(crate) fn text_pixel(text: &str, x: u32, y: u32) -> bool {
    if y >= GLYPH_H {
        return false;
    }
    let advance = GLYPH_W + SPACING;
    let col = x % advance;
    if col >= GLYPH_W {
        return false;
    }
    match text.chars().nth((x / advance) as usize) {
        Some(c) => glyph(c)[y as usize] & (1 << (GLYPH_W - 1 - col)) != 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_needed_glyph_is_defined_and_distinct() {
        let chars = ['A', 'D', 'E', 'G', 'I', 'N', 'R', 'T', '-'];
        for (i, a) in chars.iter().enumerate() {
            assert_ne!(glyph(*a), &BLANK, "glyph {a} missing");
            for b in &chars[i + 1..] {
                assert_ne!(glyph(*a), glyph(*b), "glyphs {a} and {b} are identical");
            }
        }
    }

    #[test]
    fn text_layout() {
        assert_eq!(text_width("AI-GENERATED"), 71);
        assert_eq!(text_width(""), 0);
        // 'T' is the 10th char: its top row is fully lit, its spacing column is not.
        let t0 = 9 * 6;
        assert!((t0..t0 + 5).all(|x| text_pixel("AI-GENERATED", x, 0)));
        assert!(!text_pixel("AI-GENERATED", t0 + 5, 0));
        assert!(!text_pixel("AI-GENERATED", 71, 3));
        assert!(!text_pixel("AI-GENERATED", 0, 7));
    }
}
