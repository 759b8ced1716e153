//! Photos from disk into BGR frames, refusing what would hurt: unreadable, not an image, too big.

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;

/// Why a photo could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    /// The bytes are not an image format OpenCV decodes (JPEG, PNG, BMP, WebP, TIFF...).
    #[error("{path} is not an image rollcall can decode (use JPEG or PNG)")]
    NotAnImage { path: PathBuf },
    /// Decoding would take more memory than allowed.
    #[error(
        "{path} is {width}x{height} ({} megapixels), above the limit of {} megapixels; scale it \
         down first (faces need not be larger than a few hundred pixels)",
        (*width as u64 * *height as u64) / 1_000_000,
        max_pixels / 1_000_000
    )]
    TooLarge {
        path: PathBuf,
        width: usize,
        height: usize,
        max_pixels: u64,
    },
    /// OpenCV failed while decoding.
    #[error("decoding {path} failed: {source}")]
    Decode { path: PathBuf, source: opencv::Error },
}

/// Reads and decodes a photo to an 8-bit BGR frame, checking its size from the header first so
/// a decompression bomb is refused before any pixel is allocated.
pub fn load(path: &Path, max_pixels: u64) -> Result<Mat, ImageError> {
    let bytes = std::fs::read(path).map_err(|source| ImageError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let size = imagesize::blob_size(&bytes).map_err(|_| ImageError::NotAnImage {
        path: path.to_path_buf(),
    })?;
    if size.width as u64 * size.height as u64 > max_pixels {
        return Err(ImageError::TooLarge {
            path: path.to_path_buf(),
            width: size.width,
            height: size.height,
            max_pixels,
        });
    }
    let decode = |source| ImageError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let buf = Vector::<u8>::from_slice(&bytes);
    let frame = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_COLOR).map_err(decode)?;
    if frame.empty() {
        return Err(ImageError::NotAnImage {
            path: path.to_path_buf(),
        });
    }
    Ok(frame)
}

/// Below this shorter side a photo is taken for a tight crop of a face.
pub const TIGHT_CROP_PX: i32 = 300;

/// A photo with room around it: a tight face crop (some public face sets are 150x150 crops of
/// just the face) gets a grey border a third of its size on each side, since detectors need to
/// see the head's outline; a photo with a shorter side of [`TIGHT_CROP_PX`] or more comes back
/// as it is.
pub fn with_room(image: Mat) -> opencv::Result<Mat> {
    if image.cols().min(image.rows()) >= TIGHT_CROP_PX {
        return Ok(image);
    }
    bordered(&image)
}

/// `image` with a grey border a third of its longer side on each side.
pub fn bordered(image: &Mat) -> opencv::Result<Mat> {
    let pad = image.cols().max(image.rows()) / 3;
    let mut out = Mat::default();
    opencv::core::copy_make_border(
        image,
        &mut out,
        pad,
        pad,
        pad,
        pad,
        opencv::core::BORDER_CONSTANT,
        opencv::core::Scalar::all(110.0),
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_header_claiming_a_huge_image_is_refused_before_decoding() {
        // A valid PNG signature and IHDR for 100000 x 100000 pixels, and nothing else.
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        png.extend_from_slice(b"IHDR");
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&100_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        let dir = std::env::temp_dir().join(format!("rollcall-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bomb.png");
        std::fs::write(&p, &png).unwrap();
        let e = load(&p, crate::config::DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(
            matches!(
                e,
                ImageError::TooLarge {
                    width: 100_000,
                    height: 100_000,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("10000 megapixels"), "{e}");
        let t = dir.join("text.jpg");
        std::fs::write(&t, b"not an image at all").unwrap();
        assert!(matches!(
            load(&t, crate::config::DEFAULT_MAX_PIXELS).unwrap_err(),
            ImageError::NotAnImage { .. }
        ));
        assert!(matches!(
            load(&dir.join("absent.jpg"), crate::config::DEFAULT_MAX_PIXELS).unwrap_err(),
            ImageError::Unreadable { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
