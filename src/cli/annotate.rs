//! Pictures with faces drawn on them: what `--annotate` writes, for people checking a camera or
//! a photo. Written only where the user asks; rollcall keeps no image of its own.

use std::path::Path;

use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::{imgcodecs, imgproc};

use super::CliError;
use rollcall::vision::analyze::AnalyzedFace;

/// Draws each face's box, landmarks, size, quality, liveness and name onto the frame.
pub fn draw(frame: &mut Mat, faces: &[AnalyzedFace], names: &[Option<(String, f32)>]) -> opencv::Result<()> {
    for (i, (f, name)) in faces.iter().zip(names).enumerate() {
        let b = f.face.bbox;
        let spoof = f.liveness.is_some_and(|l| !l.live);
        let colour = if spoof {
            Scalar::new(0.0, 0.0, 255.0, 0.0)
        } else {
            Scalar::new(0.0, 200.0, 0.0, 0.0)
        };
        let rect = Rect::new(b.x1 as i32, b.y1 as i32, b.width() as i32, b.height() as i32);
        imgproc::rectangle(frame, rect, colour, 2, imgproc::LINE_8, 0)?;
        for [x, y] in f.face.landmarks {
            imgproc::circle(
                frame,
                Point::new(x as i32, y as i32),
                2,
                Scalar::new(255.0, 128.0, 0.0, 0.0),
                -1,
                imgproc::LINE_8,
                0,
            )?;
        }
        let mut label = format!("#{} {:.0}px q{:.2}", i + 1, f.quality.size_px, f.quality.score);
        if let Some(l) = f.liveness {
            label.push_str(&format!(" {}{:.2}", if l.live { "live" } else { "SPOOF" }, l.score));
        }
        if let Some((n, _)) = name {
            label = format!("{n} {label}");
        }
        let org = Point::new(b.x1 as i32, (b.y1 as i32 - 6).max(12));
        imgproc::put_text(
            frame,
            &label,
            org,
            imgproc::FONT_HERSHEY_SIMPLEX,
            0.5,
            colour,
            1,
            imgproc::LINE_AA,
            false,
        )?;
    }
    Ok(())
}

/// Draws the faces and writes the picture to `out`.
pub fn save(
    out: &Path,
    frame: &mut Mat,
    faces: &[AnalyzedFace],
    names: &[Option<(String, f32)>],
) -> Result<(), CliError> {
    let failed = |reason: String| CliError::Write {
        path: out.to_path_buf(),
        reason,
    };
    draw(frame, faces, names).map_err(|e| failed(e.to_string()))?;
    // Encoded in memory and written owner-only: the picture shows people's faces.
    let unsupported = || failed("unsupported extension (use .jpg or .png)".into());
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .ok_or_else(unsupported)?;
    let mut encoded = Vector::<u8>::new();
    let ok = imgcodecs::imencode(&ext, frame, &mut encoded, &Vector::new()).unwrap_or(false);
    if !ok {
        return Err(unsupported());
    }
    rollcall::private_file::write(out, encoded.as_slice()).map_err(|e| failed(e.to_string()))?;
    eprintln!("annotated picture written to {}", out.display());
    Ok(())
}
