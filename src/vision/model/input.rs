//! Pixels into tensors, as each model's description says.

use ndarray::ArrayViewMut3;
use opencv::core::Mat;
use opencv::prelude::*;

use crate::config::{ChannelOrder, InputSpec};

/// Writes an 8-bit BGR image into a CHW tensor slot, normalised and in the model's channel order.
///
/// The image goes top-left; the rest of the slot gets the value a black pixel would have, which
/// is what zero padding means once `(x - mean) / std` is applied.
pub fn fill_chw(image: &Mat, spec: &InputSpec, mut out: ArrayViewMut3<'_, f32>) -> opencv::Result<()> {
    let (_, out_h, out_w) = out.dim();
    let (w, h) = (image.cols() as usize, image.rows() as usize);
    let lut: Vec<f32> = (0..256).map(|v| (v as f32 - spec.mean) / spec.std).collect();
    let pad = lut[0];
    let owned;
    let image = if image.is_continuous() {
        image
    } else {
        owned = image.try_clone()?;
        &owned
    };
    let bytes = image.data_bytes()?;
    // BGR source: channel k of the output reads byte `order[k]` of each pixel.
    let order = match spec.channels {
        ChannelOrder::Bgr => [0, 1, 2],
        ChannelOrder::Rgb => [2, 1, 0],
    };
    let Some(planes) = out.as_slice_mut() else {
        // Views from `Array4::zeros(..).index_axis_mut(Axis(0), i)` are always contiguous.
        return Err(opencv::Error::new(
            opencv::core::StsBadArg,
            "tensor slot is not contiguous",
        ));
    };
    let plane_len = out_h * out_w;
    let (p0, rest) = planes.split_at_mut(plane_len);
    let (p1, p2) = rest.split_at_mut(plane_len);
    let copy_h = h.min(out_h);
    let copy_w = w.min(out_w);
    for y in 0..out_h {
        let row = y * out_w;
        if y < copy_h {
            let src = &bytes[y * w * 3..(y * w + copy_w) * 3];
            for (x, px) in src.chunks_exact(3).enumerate() {
                p0[row + x] = lut[px[order[0]] as usize];
                p1[row + x] = lut[px[order[1]] as usize];
                p2[row + x] = lut[px[order[2]] as usize];
            }
            for p in [&mut *p0, &mut *p1, &mut *p2] {
                p[row + copy_w..row + out_w].fill(pad);
            }
        } else {
            for p in [&mut *p0, &mut *p1, &mut *p2] {
                p[row..row + out_w].fill(pad);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;
    use opencv::core::{CV_8UC3, Scalar};

    #[test]
    fn fill_normalises_swaps_channels_and_pads() {
        // One pixel B=10, G=20, R=30 in a 2x2 slot.
        let px = Mat::new_rows_cols_with_default(1, 1, CV_8UC3, Scalar::new(10.0, 20.0, 30.0, 0.0)).unwrap();
        let spec = InputSpec {
            width: 2,
            height: 2,
            channels: ChannelOrder::Rgb,
            mean: 10.0,
            std: 2.0,
        };
        let mut t = Array3::<f32>::zeros((3, 2, 2));
        fill_chw(&px, &spec, t.view_mut()).unwrap();
        assert_eq!(t[[0, 0, 0]], 10.0); // R
        assert_eq!(t[[1, 0, 0]], 5.0); // G
        assert_eq!(t[[2, 0, 0]], 0.0); // B
        assert_eq!(t[[0, 1, 1]], -5.0); // padding = black normalised
        assert_eq!(t[[2, 0, 1]], -5.0);
    }
}
