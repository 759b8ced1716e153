//! A classroom made from the shared photos: people seated in rows, faces small at the back of
//! the picture and big at the front, each showing their own photos in turn (a new one every few
//! seconds, the seats out of step), written as an H.264 clip with the slideshow's encoder. Most
//! are enrolled from a photo they never show; some are strangers.
//!
//! [`seats`] is a 1920x1080 room with faces from about 44 px at the back to 120 px at the front;
//! [`rows`] sets each row's face size, for the back rows of a real room (20 to 28 px), in a
//! frame of any size (1080p, 4K).

use std::path::{Path, PathBuf};

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::prelude::*;
use rollcall::vision::analyze::FaceAnalyzer;

/// Frame width of [`seats`].
pub const WIDTH: i32 = 1920;
/// Frame height of [`seats`].
pub const HEIGHT: i32 = 1080;
/// Analysis rate of the clip.
pub const FPS: u32 = 5;
/// Each seat shows each photo this long, by default: every few seconds a new view of each face
/// (and, since the tracker tells faces apart by their look, a new track).
pub const SECONDS_EACH: f64 = 4.0;

/// A room: the frame's size and its seats.
#[derive(Debug, Clone)]
pub struct Room {
    /// Frame width.
    pub width: i32,
    /// Frame height.
    pub height: i32,
    /// The seats, back row first.
    pub seats: Vec<Seat>,
}

impl Room {
    /// The seat nearest `centre`.
    pub fn seat_at(&self, centre: (f32, f32)) -> &Seat {
        seat_at(&self.seats, centre)
    }
}

/// One seat: who sits there, the photos they show, and where.
#[derive(Debug, Clone)]
pub struct Seat {
    /// The enrolled person's id, or `None` for a stranger.
    pub person: Option<String>,
    /// The photo they were enrolled from (never shown).
    pub enrolled_from: Option<PathBuf>,
    /// The photos shown, in turn.
    pub shown: Vec<PathBuf>,
    /// Face size in the frame (shorter side of the detector's box), pixels.
    pub face_px: f32,
    /// Face centre in the frame.
    pub centre: (f32, f32),
}

fn calibration() -> PathBuf {
    super::face("calibration")
}

fn photos_of(person: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(calibration().join("identities").join(person))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Face size in the back row. YuNet sees a 1920x1080 frame through its fixed 640x640 input, a
/// third of the size, so a 40 px face is 13 px to it and is found only now and then; from about
/// 45 px it is found in most frames.
pub const BACK_ROW_PX: f32 = 44.0;

/// `rows` rows of `per_row` seats in a 1920x1080 frame; the faces grow from [`BACK_ROW_PX`] at
/// the back to 120 px at the front.
/// `people` are enrolled (from their first photo, showing the rest), `strangers` fill the
/// remaining seats, spread among them.
pub fn seats(people: &[&str], strangers: &[&str], rows: usize, per_row: usize) -> Vec<Seat> {
    let sizes: Vec<f32> = (0..rows)
        .map(|row| {
            let depth = if rows > 1 { row as f32 / (rows - 1) as f32 } else { 1.0 };
            BACK_ROW_PX + (120.0 - BACK_ROW_PX) * depth
        })
        .collect();
    self::rows(people, strangers, &sizes, per_row, (WIDTH, HEIGHT)).seats
}

/// One row of `per_row` seats per entry of `row_px` (each row's face size, back row first) in a
/// `frame` of any size, the back row at the top of the picture. People and strangers are
/// seated as in [`seats`].
pub fn rows(people: &[&str], strangers: &[&str], row_px: &[f32], per_row: usize, frame: (i32, i32)) -> Room {
    let mut who: Vec<(Option<&str>, Option<&str>)> = people.iter().map(|p| (Some(*p), None)).collect();
    for (i, s) in strangers.iter().enumerate() {
        let at = ((i + 1) * who.len() / (strangers.len() + 1) + i).min(who.len());
        who.insert(at, (None, Some(*s)));
    }
    assert_eq!(who.len(), row_px.len() * per_row, "one person per seat");
    let rows = row_px.len();
    let (width, height) = (frame.0 as f32, frame.1 as f32);
    let seats = who
        .into_iter()
        .enumerate()
        .map(|(i, (person, stranger))| {
            let (row, col) = (i / per_row, i % per_row);
            let depth = if rows > 1 { row as f32 / (rows - 1) as f32 } else { 1.0 };
            let y = height * (0.15 + 0.70 * depth);
            let x = (col as f32 + 0.5) * width / per_row as f32 + if row % 2 == 1 { width / 32.0 } else { 0.0 };
            let (enrolled_from, shown) = match (person, stranger) {
                (Some(p), _) => {
                    let photos = photos_of(p);
                    (Some(photos[0].clone()), photos[1..].to_vec())
                }
                (None, Some(s)) => (None, vec![calibration().join("strangers").join(s)]),
                (None, None) => unreachable!(),
            };
            Seat {
                person: person.map(str::to_string),
                enrolled_from,
                shown,
                face_px: row_px[row],
                centre: (x, y),
            }
        })
        .collect();
    Room {
        width: frame.0,
        height: frame.1,
        seats,
    }
}

/// A photo and its face's box (the largest face the analyzer finds).
struct Shown {
    photo: Mat,
    face: Rect,
}

fn shown(analyzer: &mut FaceAnalyzer, path: &Path) -> Shown {
    let photo = rollcall::capture::image::load(path, u64::MAX).unwrap();
    let faces = analyzer.analyze(&photo).unwrap().faces;
    let b = faces
        .iter()
        .max_by(|a, b| a.quality.size_px.total_cmp(&b.quality.size_px))
        .unwrap_or_else(|| panic!("no face in {}", path.display()))
        .face
        .bbox;
    Shown {
        photo,
        face: Rect::new(b.x1 as i32, b.y1 as i32, (b.x2 - b.x1) as i32, (b.y2 - b.y1) as i32),
    }
}

/// Pastes `shown`, scaled so its face is `face_px`, onto `frame` with the face centred on
/// `centre`: the face and its surroundings out to 1.4 face sizes each side.
fn paste(frame: &mut Mat, shown: &Shown, face_px: f32, centre: (f32, f32)) {
    let (width, height) = (frame.cols(), frame.rows());
    let side = shown.face.width.min(shown.face.height).max(1) as f32;
    let scale = face_px / side;
    let (cx, cy) = (
        shown.face.x as f32 + shown.face.width as f32 / 2.0,
        shown.face.y as f32 + shown.face.height as f32 / 2.0,
    );
    let reach = 1.4 * shown.face.width.max(shown.face.height) as f32;
    let (cols, rows) = (shown.photo.cols(), shown.photo.rows());
    let x0 = ((cx - reach) as i32).clamp(0, cols - 1);
    let y0 = ((cy - reach) as i32).clamp(0, rows - 1);
    let x1 = ((cx + reach) as i32).clamp(x0 + 1, cols);
    let y1 = ((cy + reach) as i32).clamp(y0 + 1, rows);
    let crop = Mat::roi(&shown.photo, Rect::new(x0, y0, x1 - x0, y1 - y0)).unwrap();
    let size = Size::new(
        (((x1 - x0) as f32 * scale).round() as i32).max(1),
        (((y1 - y0) as f32 * scale).round() as i32).max(1),
    );
    let mut tile = Mat::default();
    opencv::imgproc::resize(&crop, &mut tile, size, 0.0, 0.0, opencv::imgproc::INTER_AREA).unwrap();
    // Where the tile's top left lands so the face centre falls on `centre`, clipped to the frame.
    let tx = (centre.0 - (cx - x0 as f32) * scale).round() as i32;
    let ty = (centre.1 - (cy - y0 as f32) * scale).round() as i32;
    let fx0 = tx.max(0);
    let fy0 = ty.max(0);
    let fx1 = (tx + size.width).min(width);
    let fy1 = (ty + size.height).min(height);
    if fx1 <= fx0 || fy1 <= fy0 {
        return;
    }
    let src = Mat::roi(&tile, Rect::new(fx0 - tx, fy0 - ty, fx1 - fx0, fy1 - fy0)).unwrap();
    let mut dst = Mat::roi_mut(frame, Rect::new(fx0, fy0, fx1 - fx0, fy1 - fy0)).unwrap();
    src.copy_to(&mut dst).unwrap();
}

/// Writes `seconds` of the classroom to `out` (.mp4, H.264), each seat showing each of its
/// photos for `seconds_each` (infinite: the first photo throughout, a class sitting still).
pub fn write_clip(analyzer: &mut FaceAnalyzer, seats: &[Seat], seconds: u32, seconds_each: f64, out: &Path) {
    let room = Room {
        width: WIDTH,
        height: HEIGHT,
        seats: seats.to_vec(),
    };
    write_room_clip(analyzer, &room, seconds, seconds_each, out);
}

/// [`write_clip`] for a room of any size.
pub fn write_room_clip(analyzer: &mut FaceAnalyzer, room: &Room, seconds: u32, seconds_each: f64, out: &Path) {
    let mut pictures = Pictures::new(analyzer, room);
    let frames = (0..seconds * FPS).map(|n| Ok(pictures.frame(room, n as f64 / FPS as f64, seconds_each)));
    rollcall::capture::slideshow::write_video(frames, FPS, out).unwrap();
}

/// Every seat's photos with their faces found, ready to be drawn into frames.
pub struct Pictures {
    shown: Vec<Vec<Shown>>,
}

impl Pictures {
    /// Finds the face in each photo shown in `room`.
    pub fn new(analyzer: &mut FaceAnalyzer, room: &Room) -> Pictures {
        Pictures {
            shown: room
                .seats
                .iter()
                .map(|s| s.shown.iter().map(|p| shown(analyzer, p)).collect())
                .collect(),
        }
    }

    /// The room at `t` seconds, each seat showing each photo for `seconds_each`.
    pub fn frame(&mut self, room: &Room, t: f64, seconds_each: f64) -> Mat {
        let mut frame = Mat::new_rows_cols_with_default(
            room.height,
            room.width,
            opencv::core::CV_8UC3,
            Scalar::new(96.0, 104.0, 112.0, 0.0),
        )
        .unwrap();
        // Front rows first: a back row's small pictures then cover only the margins of those in
        // front of it, never a face.
        for (i, (seat, photos)) in room.seats.iter().zip(&self.shown).enumerate().rev() {
            // Out of step: each seat changes photo at its own moment.
            let k = ((t + i as f64 * 1.3) / seconds_each) as usize % photos.len();
            paste(&mut frame, &photos[k], seat.face_px, seat.centre);
        }
        frame
    }
}

/// A roster CSV enrolling each seated person from their `enrolled_from` photo.
pub fn write_roster(seats: &[Seat], out: &Path) {
    let mut csv = String::from("id,name,path\n");
    for s in seats {
        if let (Some(p), Some(photo)) = (&s.person, &s.enrolled_from) {
            csv.push_str(&format!("{p},{p},{}\n", photo.display()));
        }
    }
    std::fs::write(out, csv).unwrap();
}

/// The seat nearest `centre`.
pub fn seat_at(seats: &[Seat], centre: (f32, f32)) -> &Seat {
    seats
        .iter()
        .min_by(|a, b| {
            let d = |s: &Seat| (s.centre.0 - centre.0).powi(2) + (s.centre.1 - centre.1).powi(2);
            d(a).total_cmp(&d(b))
        })
        .unwrap()
}

/// The first `n` calibration identities (sorted by name) with at least `photos` photos: enough
/// people to fill a room.
pub fn people_with(n: usize, photos: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(calibration().join("identities"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .into_iter()
        .filter(|p| photos_of(p).len() >= photos)
        .take(n)
        .collect()
}

/// The first `n` calibration identities with at least `photos` photos whose first photo
/// enrolls under the default policy (a face of 80 px and more, sharp, frontal): a class whose
/// every student can be enrolled as a school would.
pub fn enrollable(analyzer: &mut FaceAnalyzer, n: usize, photos: usize) -> Vec<String> {
    let mut scratch = rollcall::store::Store::open_in_memory(rollcall::store::Key::generate()).unwrap();
    people_with(usize::MAX, photos)
        .into_iter()
        .filter(|person| {
            let who = rollcall::enroll::Enrollee {
                person,
                name: None,
                groups: &[],
            };
            rollcall::enroll::enroll_person(
                analyzer,
                &mut scratch,
                &who,
                &photos_of(person)[..1],
                &rollcall::enroll::EnrollPolicy::default(),
                u64::MAX,
            )
            .is_ok()
        })
        .take(n)
        .collect()
}

/// For each row (back first), how many of its seats have a face among `found` (frame pixels):
/// centred within half a face of the seat and of about its size.
pub fn found_per_row(room: &Room, per_row: usize, found: &[rollcall::vision::detect::Face]) -> Vec<usize> {
    room.seats
        .chunks(per_row)
        .map(|row| {
            row.iter()
                .filter(|s| {
                    found.iter().any(|f| {
                        let b = f.bbox;
                        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
                        let near =
                            (cx - s.centre.0).abs() < s.face_px / 2.0 && (cy - s.centre.1).abs() < s.face_px / 2.0;
                        let size = b.min_side() / s.face_px;
                        near && (0.6..1.6).contains(&size)
                    })
                })
                .count()
        })
        .collect()
}
