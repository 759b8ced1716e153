//! Pictures as a poorer camera would deliver them: a face of a given size in a 640x480 frame,
//! compressed, blurred or smeared by motion. For the calibration tests, which measure where the
//! models stop being informative.

use opencv::core::{Mat, Point, Rect, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};

/// `photo` scaled so that a face `photo_face_px` high in it becomes `face_px * zoom` pixels (never
/// enlarged), set in a grey 640x480 frame (larger results are kept whole).
pub fn camera_frame(photo: &Mat, photo_face_px: f32, face_px: f32, zoom: f64) -> Mat {
    camera_frame_in(photo, photo_face_px, face_px, zoom, (640, 480))
}

/// As [`camera_frame`], in a grey frame of `canvas` (width, height): a small face needs no
/// 640x480 around it, and a detector of free input size then searches a quarter of the pixels.
pub fn camera_frame_in(photo: &Mat, photo_face_px: f32, face_px: f32, zoom: f64, canvas: (i32, i32)) -> Mat {
    framed(
        photo,
        photo_face_px,
        face_px,
        zoom,
        opencv::core::BORDER_CONSTANT,
        canvas,
    )
}

/// As [`camera_frame`], but the frame is filled by repeating the picture's edge rather than with
/// grey: the anti-spoofing models look at 2.7 and 4 times the face box, and a flat border in that
/// context reads as the edge of a printed photo.
pub fn camera_frame_without_edges(photo: &Mat, photo_face_px: f32, face_px: f32) -> Mat {
    framed(
        photo,
        photo_face_px,
        face_px,
        1.0,
        opencv::core::BORDER_REPLICATE,
        (640, 480),
    )
}

fn framed(photo: &Mat, photo_face_px: f32, face_px: f32, zoom: f64, border: i32, canvas: (i32, i32)) -> Mat {
    let factor = (face_px as f64 * zoom / photo_face_px as f64).min(1.0);
    let size = Size::new(
        ((photo.cols() as f64 * factor).round() as i32).max(8),
        ((photo.rows() as f64 * factor).round() as i32).max(8),
    );
    let mut scaled = Mat::default();
    imgproc::resize(photo, &mut scaled, size, 0.0, 0.0, imgproc::INTER_AREA).unwrap();
    let (pad_w, pad_h) = ((canvas.0 - size.width).max(0), (canvas.1 - size.height).max(0));
    let mut framed = Mat::default();
    opencv::core::copy_make_border(
        &scaled,
        &mut framed,
        pad_h / 2,
        pad_h - pad_h / 2,
        pad_w / 2,
        pad_w - pad_w / 2,
        border,
        Scalar::all(110.0),
    )
    .unwrap();
    framed
}

/// `image` through JPEG at `quality` (0 to 100): blocking and ringing, as a low bitrate leaves.
pub fn jpeg(image: &Mat, quality: i32) -> Mat {
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, quality]);
    let mut bytes = Vector::<u8>::new();
    imgcodecs::imencode(".jpg", image, &mut bytes, &params).unwrap();
    imgcodecs::imdecode(&bytes, imgcodecs::IMREAD_COLOR).unwrap()
}

/// `image` out of focus: a Gaussian blur of `sigma` pixels.
pub fn defocus(image: &Mat, sigma: f64) -> Mat {
    let mut out = Mat::default();
    imgproc::gaussian_blur_def(image, &mut out, Size::new(0, 0), sigma).unwrap();
    out
}

/// `image` smeared sideways over `length` pixels, as a head turning during the exposure.
pub fn motion_blur(image: &Mat, length: i32) -> Mat {
    let mut kernel = Mat::zeros(length, length, opencv::core::CV_32F)
        .unwrap()
        .to_mat()
        .unwrap();
    for x in 0..length {
        *kernel.at_2d_mut::<f32>(length / 2, x).unwrap() = 1.0 / length as f32;
    }
    let mut out = Mat::default();
    imgproc::filter_2d_def(image, &mut out, -1, &kernel).unwrap();
    out
}

/// The part of `image` around `face` (a box `x, y, w, h`), `times` its size, within the image.
pub fn around(image: &Mat, face: Rect, times: f32) -> Mat {
    let (w, h) = ((face.width as f32 * times) as i32, (face.height as f32 * times) as i32);
    let centre = Point::new(face.x + face.width / 2, face.y + face.height / 2);
    let x = (centre.x - w / 2).clamp(0, (image.cols() - 1).max(0));
    let y = (centre.y - h / 2).clamp(0, (image.rows() - 1).max(0));
    let rect = Rect::new(x, y, w.min(image.cols() - x), h.min(image.rows() - y));
    Mat::roi(image, rect).unwrap().try_clone().unwrap()
}
