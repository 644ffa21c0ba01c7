//! Drawing primitives on an RGB canvas, written as row fills and copies (no per-pixel closures over the
//! whole image), with every shape clipped to the canvas.

use image::{RgbImage, RgbaImage};

/// An RGB colour.
pub(crate) type Rgb = [u8; 3];

/// Fills a row of RGB pixels with one colour (by doubling copies).
pub(crate) fn fill_row(row: &mut [u8], color: Rgb) {
    if row.len() < 3 {
        return;
    }
    row[..3].copy_from_slice(&color);
    let mut filled = 3;
    while filled < row.len() {
        let n = filled.min(row.len() - filled);
        row.copy_within(..n, filled);
        filled += n;
    }
}

/// Blends a row of RGB pixels towards `color` with opacity `alpha` (out of 256).
fn blend_row(row: &mut [u8], color: Rgb, alpha: u32) {
    let alpha = alpha.min(256);
    let inv = 256 - alpha;
    let premul = color.map(|c| u32::from(c) * alpha);
    for px in row.chunks_exact_mut(3) {
        for (c, p) in px.iter_mut().zip(premul) {
            *c = ((u32::from(*c) * inv + p) >> 8) as u8;
        }
    }
}

/// A disc, drawn with opacity `alpha` out of 256 (256 = opaque).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Disc {
    pub cx: i64,
    pub cy: i64,
    pub r: i64,
    pub color: Rgb,
    pub alpha: u32,
}

impl Disc {
    /// The half-width of the disc's span on row `y` (None when the row misses the disc).
    fn half_width(&self, y: i64) -> Option<i64> {
        let dy = y - self.cy;
        (self.r > 0 && dy.abs() <= self.r).then(|| (self.r * self.r - dy * dy).unsigned_abs().isqrt() as i64)
    }
}

fn blend(under: Rgb, over: Rgb, alpha: u32) -> Rgb {
    let alpha = alpha.min(256);
    std::array::from_fn(|i| ((u32::from(under[i]) * (256 - alpha) + u32::from(over[i]) * alpha) >> 8) as u8)
}

/// A vertical gradient from `top` (first row) to `bottom` (last row) over the whole canvas, with an
/// optional translucent disc over it (drawn in the same pass: each row's disc span is one blended colour).
pub(crate) fn vertical_gradient(img: &mut RgbImage, top: Rgb, bottom: Rgb, disc: Option<Disc>) {
    let (width, height) = img.dimensions();
    let stride = width as usize * 3;
    if stride == 0 {
        return;
    }
    let last = u64::from(height.saturating_sub(1).max(1));
    for (y, row) in img.chunks_exact_mut(stride).enumerate() {
        let t = y as u64;
        let color: Rgb = std::array::from_fn(|i| {
            let (a, b) = (u64::from(top[i]), u64::from(bottom[i]));
            ((a * (last - t) + b * t + last / 2) / last) as u8
        });
        fill_row(row, color);
        if let Some((d, half)) = disc.and_then(|d| Some((d, d.half_width(y as i64)?))) {
            let x0 = (d.cx - half).clamp(0, i64::from(width)) as usize;
            let x1 = (d.cx + half + 1).clamp(0, i64::from(width)) as usize;
            if x0 < x1 {
                fill_row(&mut row[x0 * 3..x1 * 3], blend(color, d.color, d.alpha));
            }
        }
    }
}

/// The byte range of pixels `x0..x1` (clipped to the canvas) on row `y`, or None when empty.
fn span(img: &RgbImage, y: i64, x0: i64, x1: i64) -> Option<std::ops::Range<usize>> {
    let (width, height) = img.dimensions();
    if y < 0 || y >= i64::from(height) {
        return None;
    }
    let (x0, x1) = (x0.max(0), x1.min(i64::from(width)));
    if x0 >= x1 {
        return None;
    }
    let row = y as usize * width as usize * 3;
    Some(row + x0 as usize * 3..row + x1 as usize * 3)
}

/// An opaque rectangle.
pub(crate) fn fill_rect(img: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, color: Rgb) {
    let (x0, x1) = (i64::from(x), i64::from(x) + i64::from(w));
    for y in i64::from(y)..i64::from(y) + i64::from(h) {
        match span(img, y, x0, x1) {
            Some(range) => fill_row(&mut (**img)[range], color),
            None if y >= i64::from(img.height()) => break,
            None => {}
        }
    }
}

/// A disc (blended over what is there when not opaque).
pub(crate) fn fill_circle(img: &mut RgbImage, disc: Disc) {
    if disc.alpha == 0 {
        return;
    }
    for y in disc.cy - disc.r..=disc.cy + disc.r {
        let Some(half) = disc.half_width(y) else { continue };
        if let Some(range) = span(img, y, disc.cx - half, disc.cx + half + 1) {
            if disc.alpha >= 256 {
                fill_row(&mut (**img)[range], disc.color);
            } else {
                blend_row(&mut (**img)[range], disc.color, disc.alpha);
            }
        }
    }
}

/// Copies `src` onto the canvas at (`x`, `y`), row by row, clipped.
pub(crate) fn blit_rgb(img: &mut RgbImage, src: &RgbImage, x: u32, y: u32) {
    blit_rows(img, src, src.width(), 3, (x, y), |dst, src_row| {
        dst.copy_from_slice(&src_row[..dst.len()]);
    });
}

/// Blends `src` (straight alpha) onto the canvas at (`x`, `y`), clipped.
pub(crate) fn blit_rgba(img: &mut RgbImage, src: &RgbaImage, x: u32, y: u32) {
    blit_rows(img, src, src.width(), 4, (x, y), |dst, src_row| {
        for (dst, s) in dst.chunks_exact_mut(3).zip(src_row.chunks_exact(4)) {
            match s[3] {
                0 => {}
                255 => dst.copy_from_slice(&s[..3]),
                a => {
                    let a = u32::from(a);
                    for (d, c) in dst.iter_mut().zip(&s[..3]) {
                        *d = ((u32::from(*c) * a + u32::from(*d) * (255 - a) + 127) / 255) as u8;
                    }
                }
            }
        }
    });
}

/// The one walk of both blits: for each row of `src` (`width` pixels of
/// `channels` bytes) placed with its top left at `at`, hands `row` the
/// canvas bytes it covers, clipped, and the source row from its first
/// pixel (the left edge never clips: `at` is unsigned).
fn blit_rows(
    img: &mut RgbImage,
    src: &[u8],
    width: u32,
    channels: usize,
    (x, y): (u32, u32),
    mut row: impl FnMut(&mut [u8], &[u8]),
) {
    let src_stride = width as usize * channels;
    if src_stride == 0 {
        return;
    }
    for (sy, src_row) in src.chunks_exact(src_stride).enumerate() {
        let (x0, x1) = (i64::from(x), i64::from(x) + i64::from(width));
        if let Some(range) = span(img, i64::from(y) + sy as i64, x0, x1) {
            row(&mut (**img)[range], src_row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_runs_from_top_to_bottom_colour() {
        let mut img = RgbImage::new(7, 5);
        vertical_gradient(&mut img, [0, 100, 200], [200, 100, 0], None);
        assert_eq!(img.get_pixel(0, 0).0, [0, 100, 200]);
        assert_eq!(img.get_pixel(6, 0).0, [0, 100, 200]);
        assert_eq!(img.get_pixel(3, 2).0, [100, 100, 100]);
        assert_eq!(img.get_pixel(6, 4).0, [200, 100, 0]);
    }

    #[test]
    fn gradient_disc_is_blended_into_each_row() {
        let mut img = RgbImage::new(9, 9);
        let disc = Disc {
            cx: 4,
            cy: 4,
            r: 2,
            color: [255, 255, 255],
            alpha: 128,
        };
        vertical_gradient(&mut img, [100, 100, 100], [100, 100, 100], Some(disc));
        assert_eq!(img.get_pixel(4, 4).0, [177, 177, 177]);
        assert_eq!(img.get_pixel(2, 4).0, [177, 177, 177]);
        assert_eq!(img.get_pixel(4, 2).0, [177, 177, 177]);
        for (x, y) in [(1, 4), (4, 1), (3, 2), (6, 6), (0, 0)] {
            assert_eq!(img.get_pixel(x, y).0, [100, 100, 100], "({x}, {y})");
        }
    }

    #[test]
    fn shapes_are_clipped_to_the_canvas() {
        let mut img = RgbImage::new(10, 10);
        fill_rect(&mut img, 8, 8, 100, 100, [255, 0, 0]);
        assert_eq!(img.get_pixel(9, 9).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(7, 9).0, [0, 0, 0]);
        fill_circle(
            &mut img,
            Disc {
                cx: -3,
                cy: 5,
                r: 5,
                color: [0, 255, 0],
                alpha: 256,
            },
        );
        assert_eq!(img.get_pixel(0, 5).0, [0, 255, 0]);
        assert_eq!(img.get_pixel(3, 5).0, [0, 0, 0]);
        fill_circle(
            &mut img,
            Disc {
                cx: 5,
                cy: 5,
                r: 1000,
                color: [0, 0, 255],
                alpha: 128,
            },
        );
        assert_eq!(img.get_pixel(5, 5).0, [0, 0, 127]);
        blit_rgb(&mut img, &RgbImage::from_pixel(4, 4, image::Rgb([9, 9, 9])), 8, 0);
        assert_eq!(img.get_pixel(9, 3).0, [9, 9, 9]);
        blit_rgba(
            &mut img,
            &RgbaImage::from_pixel(4, 4, image::Rgba([255, 255, 255, 0])),
            0,
            0,
        );
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 127]);
    }

    #[test]
    fn blits_place_each_source_row_and_clip_at_the_right_and_bottom() {
        let mut img = RgbImage::new(4, 4);
        let src = RgbImage::from_fn(3, 3, |x, y| image::Rgb([x as u8 + 1, y as u8 + 1, 7]));
        blit_rgb(&mut img, &src, 2, 2);
        assert_eq!(img.get_pixel(2, 2).0, [1, 1, 7]);
        assert_eq!(img.get_pixel(3, 2).0, [2, 1, 7]);
        assert_eq!(img.get_pixel(2, 3).0, [1, 2, 7]);
        assert_eq!(img.get_pixel(3, 3).0, [2, 2, 7]);
        assert_eq!(img.get_pixel(1, 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(2, 1).0, [0, 0, 0]);
        let mut img = RgbImage::from_pixel(3, 3, image::Rgb([0, 0, 0]));
        let src = RgbaImage::from_fn(2, 2, |x, y| match (x, y) {
            (0, 0) => image::Rgba([200, 100, 50, 255]),
            (1, 0) => image::Rgba([255, 255, 255, 51]),
            (0, 1) => image::Rgba([9, 9, 9, 0]),
            _ => image::Rgba([255, 0, 0, 255]),
        });
        blit_rgba(&mut img, &src, 1, 1);
        assert_eq!(img.get_pixel(1, 1).0, [200, 100, 50]);
        assert_eq!(img.get_pixel(2, 1).0, [51, 51, 51]);
        assert_eq!(img.get_pixel(1, 2).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(2, 2).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(0, 1).0, [0, 0, 0]);
    }
}
