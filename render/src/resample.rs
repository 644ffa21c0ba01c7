//! Fast integer resampling of interleaved 8-bit images with `N` channels: a box (area-average) filter for
//! shrinking and a bilinear (triangle) filter for enlarging, both separable and row-oriented. The generic
//! float resampler of `image::imageops` is kept only for the rare mixed case (one axis grows, the other
//! shrinks) and for boxes too large for 32-bit sums.

use image::imageops::{self, FilterType};
use image::{ImageBuffer, Pixel};

/// `img` scaled to exactly `w` x `h` (each at least 1).
pub(crate) fn resize<P, const N: usize>(img: &ImageBuffer<P, Vec<u8>>, w: u32, h: u32) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    debug_assert_eq!(usize::from(P::CHANNEL_COUNT), N);
    let (sw, sh) = img.dimensions();
    let valid = sw > 0 && sh > 0 && w > 0 && h > 0 && usize::from(P::CHANNEL_COUNT) == N;
    let shrink = valid && w <= sw && h <= sh && box_fits_u32(sw, sh, w, h);
    let enlarge = valid && w >= sw && h >= sh;
    if !shrink && !enlarge {
        return imageops::resize(img, w, h, FilterType::Triangle);
    }
    let mut out = ImageBuffer::<P, Vec<u8>>::new(w, h);
    if shrink {
        shrink_box::<N>(img.as_raw(), sw, sh, &mut out, w, h);
    } else {
        enlarge_bilinear::<N>(img.as_raw(), sw, sh, &mut out, w, h);
    }
    out
}

/// Whether the largest box of a `sw` x `sh` -> `w` x `h` shrink can be summed in a u32.
fn box_fits_u32(sw: u32, sh: u32, w: u32, h: u32) -> bool {
    let bw = u64::from(sw.div_ceil(w.max(1)));
    let bh = u64::from(sh.div_ceil(h.max(1)));
    bw * bh * 255 <= u64::from(u32::MAX)
}

/// Source index range `[start, end)` that output index `i` of `dst` covers in `src` (`src >= dst`):
/// the ranges tile the source exactly, each at least one pixel.
fn box_range(i: u32, src: u32, dst: u32) -> (usize, usize) {
    let start = u64::from(i) * u64::from(src) / u64::from(dst);
    let end = (u64::from(i) + 1) * u64::from(src) / u64::from(dst);
    (start as usize, end as usize)
}

fn shrink_box<const N: usize>(src: &[u8], sw: u32, sh: u32, out: &mut [u8], w: u32, h: u32) {
    let src_stride = sw as usize * N;
    let x_ranges: Vec<(usize, usize)> = (0..w).map(|x| box_range(x, sw, w)).collect();
    let mut sums = vec![0u32; w as usize * N];
    for (oy, out_row) in out.chunks_exact_mut(w as usize * N).enumerate() {
        let (y0, y1) = box_range(oy as u32, sh, h);
        sums.fill(0);
        for src_row in src[y0 * src_stride..y1 * src_stride].chunks_exact(src_stride) {
            for (sum, &(x0, x1)) in sums.chunks_exact_mut(N).zip(&x_ranges) {
                for px in src_row[x0 * N..x1 * N].chunks_exact(N) {
                    for c in 0..N {
                        sum[c] += u32::from(px[c]);
                    }
                }
            }
        }
        let rows = (y1 - y0) as u32;
        for ((dst, sum), &(x0, x1)) in out_row.chunks_exact_mut(N).zip(sums.chunks_exact(N)).zip(&x_ranges) {
            let count = rows * (x1 - x0) as u32;
            for c in 0..N {
                dst[c] = ((sum[c] + count / 2) / count) as u8;
            }
        }
    }
}

/// For each output index: the two source indices and the weight of the second, out of 256
/// (pixel centres aligned, edges clamped).
fn bilinear_taps(src: u32, dst: u32) -> Vec<(usize, usize, u32)> {
    let last = src.saturating_sub(1) as usize;
    (0..dst)
        .map(|i| {
            // Source coordinate of the output pixel's centre, in 1/256 pixels: (i + 0.5) * src / dst - 0.5.
            let pos = ((2 * u64::from(i) + 1) * u64::from(src) * 256 / (2 * u64::from(dst))) as i64 - 128;
            let pos = pos.max(0) as u64;
            let i0 = ((pos >> 8) as usize).min(last);
            let i1 = (i0 + 1).min(last);
            let frac = if i0 == last { 0 } else { (pos & 255) as u32 };
            (i0, i1, frac)
        })
        .collect()
}

fn enlarge_bilinear<const N: usize>(src: &[u8], sw: u32, sh: u32, out: &mut [u8], w: u32, h: u32) {
    let src_stride = sw as usize * N;
    let row_len = w as usize * N;
    // Horizontal pass: every source row widened to `w`, kept at 8 extra bits of precision.
    let x_taps = bilinear_taps(sw, w);
    let mut wide = vec![0u16; sh as usize * row_len];
    for (src_row, wide_row) in src.chunks_exact(src_stride).zip(wide.chunks_exact_mut(row_len)) {
        for (dst, &(x0, x1, fx)) in wide_row.chunks_exact_mut(N).zip(&x_taps) {
            for c in 0..N {
                let a = u32::from(src_row[x0 * N + c]);
                let b = u32::from(src_row[x1 * N + c]);
                dst[c] = (a * (256 - fx) + b * fx) as u16;
            }
        }
    }
    // Vertical pass: every output row from two widened rows.
    let y_taps = bilinear_taps(sh, h);
    for (out_row, &(y0, y1, fy)) in out.chunks_exact_mut(row_len).zip(&y_taps) {
        let r0 = &wide[y0 * row_len..(y0 + 1) * row_len];
        if fy == 0 {
            for (o, &a) in out_row.iter_mut().zip(r0) {
                *o = ((u32::from(a) + 128) >> 8) as u8;
            }
            continue;
        }
        let r1 = &wide[y1 * row_len..(y1 + 1) * row_len];
        for ((o, &a), &b) in out_row.iter_mut().zip(r0).zip(r1) {
            *o = ((u32::from(a) * (256 - fy) + u32::from(b) * fy + 32768) >> 16) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    use super::*;

    #[test]
    fn shrinking_averages_boxes() {
        let img = RgbImage::from_fn(4, 2, |x, _| if x < 2 { Rgb([0, 100, 200]) } else { Rgb([200, 100, 0]) });
        let out = resize::<_, 3>(&img, 2, 1);
        assert_eq!(out.get_pixel(0, 0).0, [0, 100, 200]);
        assert_eq!(out.get_pixel(1, 0).0, [200, 100, 0]);
        let out = resize::<_, 3>(&img, 1, 1);
        assert_eq!(out.get_pixel(0, 0).0, [100, 100, 100]);
        // Uneven ratio: still the whole image's colour when it is uniform.
        let img = RgbaImage::from_pixel(7000, 3, Rgba([9, 99, 199, 255]));
        let out = resize::<_, 4>(&img, 256, 1);
        assert!(out.pixels().all(|p| p.0 == [9, 99, 199, 255]));
    }

    #[test]
    fn enlarging_interpolates_linearly() {
        let img = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([0, 0, 0]) } else { Rgb([255, 255, 255]) });
        let out = resize::<_, 3>(&img, 8, 3);
        assert_eq!(out.dimensions(), (8, 3));
        let row: Vec<u8> = (0..8).map(|x| out.get_pixel(x, 1).0[0]).collect();
        // Clamped at the edges, linear in between (source pixel centres at output x = 1.5 and 5.5).
        assert_eq!(row, [0, 0, 32, 96, 159, 223, 255, 255]);
        // Every row the same (the source has one row).
        assert!((0..8).all(|x| out.get_pixel(x, 0) == out.get_pixel(x, 2)));
        let uniform = RgbImage::from_pixel(3, 5, Rgb([250, 20, 20]));
        assert!(
            resize::<_, 3>(&uniform, 301, 499)
                .pixels()
                .all(|p| p.0 == [250, 20, 20])
        );
    }

    #[test]
    fn mixed_and_degenerate_sizes() {
        let img = RgbImage::from_pixel(10, 10, Rgb([1, 2, 3]));
        assert_eq!(resize::<_, 3>(&img, 20, 5).dimensions(), (20, 5));
        assert_eq!(resize::<_, 3>(&img, 1, 1).get_pixel(0, 0).0, [1, 2, 3]);
        assert_eq!(resize::<_, 3>(&img, 10, 10), img);
    }
}
