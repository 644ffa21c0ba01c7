//! The "AI-GENERATED" disclosure mark: layout, drawing and detection.
//!
//! The mark is a dark, mostly opaque box in the bottom-right corner with the text drawn in a light colour
//! with the 5x7 font of [`super::font`], every font pixel scaled to `scale` x `scale` image pixels. The
//! layout depends only on the image size, so detection recomputes it and checks every font cell of the box.

use image::RgbImage;

use super::font::{self, GLYPH_H};

/// The text of the mark.
const TEXT: &str = "AI-GENERATED";
/// The two lines used when one line does not fit the image's width (very narrow thumbnails).
const LINES: [&str; 2] = ["AI-", "GENERATED"];
/// Padding around the text inside the box, in font pixels.
const PAD: u32 = 2;
/// Gap between the two lines, in font pixels.
const LINE_GAP: u32 = 2;
/// Box colour and its opacity (out of 256).
const BOX_RGB: [u8; 3] = [16, 16, 20];
const BOX_ALPHA: u32 = 224;
/// Text colour.
const TEXT_RGB: [u8; 3] = [245, 245, 240];

/// Where and how the mark is drawn in an image of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MarkLayout {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// Image pixels per font pixel.
    pub scale: u32,
    pub two_lines: bool,
    /// False when even the smallest layout does not fit: the mark is then clipped, and not detectable.
    pub fits: bool,
}

/// Box size in font pixels (columns, rows).
fn box_cells(two_lines: bool) -> (u32, u32) {
    if two_lines {
        let w = LINES.iter().map(|l| font::text_width(l)).max().unwrap_or(0);
        (w + 2 * PAD, 2 * GLYPH_H + LINE_GAP + 2 * PAD)
    } else {
        (font::text_width(TEXT) + 2 * PAD, GLYPH_H + 2 * PAD)
    }
}

/// Computes the mark's layout: its height is about 3.5% of the shorter side (at least the font's native
/// size), at a margin of 1/64 of the shorter side (at least 2 px) from the bottom-right corner.
pub(crate) fn layout(width: u32, height: u32) -> MarkLayout {
    let short = u64::from(width.min(height));
    let (one_w, one_h) = box_cells(false);
    // scale = round(short * 0.035 / one_h), at least 1.
    let ideal = ((short * 35 + u64::from(one_h) * 500) / (u64::from(one_h) * 1000)).max(1);
    let ideal = u32::try_from(ideal).unwrap_or(u32::MAX);
    let margin = (width.min(height) / 64).max(2);
    let place = |two_lines: bool, scale: u32| -> Option<MarkLayout> {
        let (cw, ch) = box_cells(two_lines);
        let w = cw.checked_mul(scale)?;
        let h = ch.checked_mul(scale)?;
        let x = width.checked_sub(w.checked_add(margin)?)?;
        let y = height.checked_sub(h.checked_add(margin)?)?;
        Some(MarkLayout {
            x,
            y,
            w,
            h,
            scale,
            two_lines,
            fits: true,
        })
    };
    for two_lines in [false, true] {
        for scale in (1..=ideal).rev() {
            if let Some(l) = place(two_lines, scale) {
                return l;
            }
        }
    }
    // Too small for any complete mark: clip a native-size one-line mark to the image.
    let w = one_w.min(width);
    let h = one_h.min(height);
    MarkLayout {
        x: width - w,
        y: height - h,
        w,
        h,
        scale: 1,
        two_lines: false,
        fits: false,
    }
}

/// Whether the font cell (`col`, `row`) of the box (in font pixels, from the box's top-left) is lit.
fn cell_lit(l: &MarkLayout, col: u32, row: u32) -> bool {
    let (cw, _) = box_cells(l.two_lines);
    if col < PAD || row < PAD {
        return false;
    }
    let (col, row) = (col - PAD, row - PAD);
    if !l.two_lines {
        return font::text_pixel(TEXT, col, row);
    }
    let inner_w = cw - 2 * PAD;
    for (i, line) in LINES.iter().enumerate() {
        let top = i as u32 * (GLYPH_H + LINE_GAP);
        if (top..top + GLYPH_H).contains(&row) {
            // Each line is centred in the box.
            let left = (inner_w - font::text_width(line)) / 2;
            return col >= left && font::text_pixel(line, col - left, row - top);
        }
    }
    false
}

/// Draws the mark onto `img` (in place) at [`layout`]'s position.
pub(crate) fn draw(img: &mut RgbImage) {
    let (width, height) = img.dimensions();
    let l = layout(width, height);
    let stride = width as usize * 3;
    let buf: &mut [u8] = img;
    // The box: blend towards BOX_RGB.
    for y in l.y..(l.y + l.h).min(height) {
        let start = y as usize * stride + l.x as usize * 3;
        let end = y as usize * stride + (l.x + l.w).min(width) as usize * 3;
        for px in buf[start..end].chunks_exact_mut(3) {
            for (c, b) in px.iter_mut().zip(BOX_RGB) {
                *c = ((u32::from(*c) * (256 - BOX_ALPHA) + u32::from(b) * BOX_ALPHA) >> 8) as u8;
            }
        }
    }
    // The text: opaque scale x scale blocks.
    let s = l.scale;
    let (cols, rows) = (l.w / s, l.h / s);
    for row in 0..rows {
        for col in 0..cols {
            if !cell_lit(&l, col, row) {
                continue;
            }
            let x0 = l.x + col * s;
            let x1 = (x0 + s).min(width);
            for y in (l.y + row * s)..(l.y + row * s + s).min(height) {
                let start = y as usize * stride + x0 as usize * 3;
                let end = y as usize * stride + x1 as usize * 3;
                for px in buf[start..end].chunks_exact_mut(3) {
                    px.copy_from_slice(&TEXT_RGB);
                }
            }
        }
    }
}

/// Mean luma of the cell's interior (one pixel inset when the cell is at least 3 px wide, to stay clear of
/// compression ringing at the glyph edges).
fn cell_luma(img: &RgbImage, x0: u32, y0: u32, s: u32) -> u32 {
    let inset = if s >= 3 { 1 } else { 0 };
    let (mut sum, mut n) = (0u32, 0u32);
    for y in (y0 + inset)..(y0 + s - inset) {
        for x in (x0 + inset)..(x0 + s - inset) {
            let [r, g, b] = img.get_pixel(x, y).0;
            sum += (77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b)) >> 8;
            n += 1;
        }
    }
    sum.checked_div(n).unwrap_or(0)
}

/// How well the image matches the mark's pattern.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MarkScore {
    /// Mean luma of the cells the font lights, and of the others.
    pub lit_mean: u32,
    pub dark_mean: u32,
    /// Fractions of lit and dark cells on the side of the midpoint between the means that the font says.
    pub lit_ok: f64,
    pub dark_ok: f64,
}

/// Scores every font cell of the box against the font; None when no complete mark fits the image.
pub(crate) fn score(img: &RgbImage) -> Option<MarkScore> {
    let (width, height) = img.dimensions();
    let l = layout(width, height);
    if !l.fits {
        return None;
    }
    let s = l.scale;
    let (cols, rows) = (l.w / s, l.h / s);
    let mut lit = Vec::new();
    let mut dark = Vec::new();
    for row in 0..rows {
        for col in 0..cols {
            let v = cell_luma(img, l.x + col * s, l.y + row * s, s);
            if cell_lit(&l, col, row) {
                lit.push(v)
            } else {
                dark.push(v)
            }
        }
    }
    if lit.is_empty() || dark.is_empty() {
        return None;
    }
    let mean = |v: &[u32]| v.iter().sum::<u32>() / v.len() as u32;
    let (lit_mean, dark_mean) = (mean(&lit), mean(&dark));
    let mid = (lit_mean + dark_mean) / 2;
    let lit_ok = lit.iter().filter(|&&v| v > mid).count() as f64 / lit.len() as f64;
    let dark_ok = dark.iter().filter(|&&v| v <= mid).count() as f64 / dark.len() as f64;
    Some(MarkScore {
        lit_mean,
        dark_mean,
        lit_ok,
        dark_ok,
    })
}

/// Detects the mark: light text on a dark box with a clear contrast, and at least 90% of the lit and of
/// the dark font cells on the side of the midpoint luma that the font says.
pub(crate) fn detect(img: &RgbImage) -> bool {
    score(img).is_some_and(|s| {
        s.lit_mean >= 150
            && s.dark_mean <= 100
            && s.lit_mean >= s.dark_mean + 100
            && s.lit_ok >= 0.9
            && s.dark_ok >= 0.9
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_scales_with_the_image_and_stays_inside() {
        for (w, h) in [
            (256, 256),
            (1024, 1024),
            (768, 1024),
            (4096, 2304),
            (2304, 4096),
            (64, 256),
            (256, 64),
        ] {
            let l = layout(w, h);
            assert!(l.fits, "{w}x{h}: {l:?}");
            // In the bottom-right corner, at the margin.
            let short = w.min(h);
            let margin = (short / 64).max(2);
            assert_eq!((l.x + l.w + margin, l.y + l.h + margin), (w, h), "{w}x{h}: {l:?}");
            assert!(l.y > h / 2, "{w}x{h}: {l:?}");
            if short >= 512 {
                // About 3.5% of the shorter side (the integer scale rounds it to 2.5-4.5%).
                assert!(l.h * 1000 >= short * 25 && l.h * 1000 <= short * 45, "{w}x{h}: {l:?}");
            } else {
                assert_eq!(l.scale, 1, "{w}x{h}: {l:?}");
            }
        }
        assert!(layout(4096, 4096).scale > layout(1024, 1024).scale);
        // Only a very narrow image needs two lines.
        assert!(layout(64, 256).two_lines);
        assert!(!layout(256, 64).two_lines);
        assert!(!layout(10, 10).fits);
    }

    #[test]
    fn two_line_layout_lights_both_lines() {
        let l = layout(64, 256);
        let (cols, rows) = (l.w / l.scale, l.h / l.scale);
        let lit_rows: Vec<u32> = (0..rows).filter(|&r| (0..cols).any(|c| cell_lit(&l, c, r))).collect();
        assert_eq!(lit_rows.len(), 2 * GLYPH_H as usize);
    }

    #[test]
    fn draw_then_detect_on_light_and_dark_backgrounds() {
        for bg in [[255u8, 255, 255], [0, 0, 0], [200, 30, 30]] {
            let mut img = RgbImage::from_pixel(300, 200, image::Rgb(bg));
            assert!(!detect(&img));
            draw(&mut img);
            assert!(detect(&img), "background {bg:?}");
        }
    }

    #[test]
    fn tiny_images_do_not_panic() {
        for (w, h) in [(1, 1), (3, 50), (50, 3), (40, 40)] {
            let mut img = RgbImage::new(w, h);
            draw(&mut img);
            assert!(!detect(&img));
        }
    }
}
