//! Where the parts of a frame go in the detector's input, so that a face of 20 px at the
//! camera's own resolution reaches the detector at 20 px.
//!
//! A detector made for 640x640 sees a whole 1920x1080 frame at a third of its size: a back-row
//! face of 24 px reaches it at 8 px and is never found. So a frame is searched in views:
//!
//! - the **overview**: the whole frame fitted into the model's own input size, never scaled up
//!   (a small photo costs its own size, not 640x640), where big faces are found whole;
//! - the **detail** at the frame's own resolution, where small faces are found: one view for a
//!   detector of free input size, or overlapping tiles of its input size for a fixed one;
//! - between full passes, **regions** around the faces already tracked, packed side by side
//!   into one input, so a tracked back row is searched at full resolution on every frame for a
//!   fraction of a full pass. A region is searched at the scale the full pass sees its face at
//!   (the overview's for a big face, the detail's for a small one): a face found at another
//!   scale gets another box and other landmarks, and the tracker would take it for someone
//!   else.
//!
//! Each [`Layout`] is one inference call; its placements say where each part of the frame went,
//! so faces map back to frame pixels before one NMS over all views. This module is plain
//! arithmetic over sizes, tested without a model.

use super::BBox;

/// What the detector model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    /// The model's described input width: the overview's size, and a fixed model's only one.
    pub width: u32,
    /// The model's described input height.
    pub height: u32,
    /// Any height and width (multiples of `step`) are accepted.
    pub free_size: bool,
    /// Several images go in one call (a dynamic batch dimension).
    pub batched: bool,
    /// The largest stride: free input sizes are multiples of it.
    pub step: u32,
}

/// A rectangle of frame pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: i32,
    /// Height.
    pub h: i32,
}

/// One part of the frame in one image of the input batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// The image of the batch it is drawn into.
    pub item: usize,
    /// The part of the frame, in frame pixels.
    pub source: Rect,
    /// Input pixels per frame pixel (at most 1 except for an explicit `[detect] input_size`).
    pub scale: f32,
    /// Its top-left corner in the input image.
    pub at: (i32, i32),
    /// Its size in the input image: the source scaled, computed once so drawing and mapping back
    /// agree to the pixel.
    pub size: (i32, i32),
    /// Faces bigger than this (shorter side, frame pixels) found here are dropped: another view
    /// (the overview) sees them whole and at the scale the detector knows best, and its
    /// landmarks are the steadier ones.
    pub max_face: f32,
    /// Faces smaller than this (shorter side, frame pixels) found here yield to an overlapping
    /// face found by a finer view (the overview's to the detail's). Each size then has one
    /// view that reports it, whichever scores higher, so a tracked face keeps the same box and
    /// landmarks from frame to frame, full pass or region; the coarse view's face still counts
    /// where the finer view found nothing.
    pub yields_below: f32,
    /// For each side (left, top, right, bottom), whether it cuts through the frame rather than
    /// lying on its border. A face touching a cut edge is cut too, and a neighbouring view that
    /// overlaps it sees it whole, so such faces are dropped.
    pub cut: [bool; 4],
}

impl Placement {
    /// The placement's rectangle in input pixels.
    fn in_input(&self) -> (f32, f32, f32, f32) {
        let (x, y) = (self.at.0 as f32, self.at.1 as f32);
        (x, y, x + self.size.0 as f32, y + self.size.1 as f32)
    }

    /// Whether a box found in this placement's input image belongs to it: its centre lies in
    /// the placement (not in the padding or a neighbour's part).
    pub fn holds(&self, b: &BBox) -> bool {
        let (x1, y1, x2, y2) = self.in_input();
        let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
        cx >= x1 && cx < x2 && cy >= y1 && cy < y2
    }

    /// Maps a point from input pixels to frame pixels.
    pub fn to_frame(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [
            (x - self.at.0 as f32) / self.scale + self.source.x as f32,
            (y - self.at.1 as f32) / self.scale + self.source.y as f32,
        ]
    }

    /// Whether a box (frame pixels) reaches a cut edge: a face only partly in this view.
    pub fn touches_cut(&self, b: &BBox) -> bool {
        // Two input pixels: boxes of faces cut by the edge end on it or beyond it.
        let slack = 2.0 / self.scale;
        let s = self.source;
        let (left, top) = (s.x as f32 + slack, s.y as f32 + slack);
        let (right, bottom) = ((s.x + s.w) as f32 - slack, (s.y + s.h) as f32 - slack);
        (self.cut[0] && b.x1 <= left)
            || (self.cut[1] && b.y1 <= top)
            || (self.cut[2] && b.x2 >= right)
            || (self.cut[3] && b.y2 >= bottom)
    }
}

/// One inference call: a batch of `items` images of `width` x `height`, and what is in them.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Input width.
    pub width: u32,
    /// Input height.
    pub height: u32,
    /// Images in the batch.
    pub items: usize,
    /// The parts of the frame drawn into them.
    pub placements: Vec<Placement>,
}

/// The largest frame side searched at full resolution; a bigger frame's detail is scaled down to
/// it. 4K is the largest camera a classroom has.
pub const MAX_DETAIL_SIDE: u32 = 3840;
/// The detail keeps only faces the overview would see smaller than this (input pixels): bigger
/// ones are the overview's.
pub const DETAIL_UP_TO: f32 = 32.0;
/// Overlap between neighbouring tiles (frame pixels): a face up to this size lies whole in some
/// tile. Bigger ones are the overview's.
pub const TILE_OVERLAP: i32 = 128;
/// A region around a tracked face spans this many face sizes, so the face is still inside it
/// when it moves between frames.
pub const REGION_SPAN: f32 = 3.0;
/// Smallest region side, frame pixels.
pub const MIN_REGION: i32 = 64;
/// Black pixels between packed regions, so one region's face never spills into the next.
const GAP: i32 = 16;

fn round_up(v: u32, step: u32) -> u32 {
    v.div_ceil(step.max(1)) * step.max(1)
}

/// `len` frame pixels at `scale`, in input pixels (at least one).
fn scaled(len: i32, scale: f32) -> i32 {
    ((len as f32 * scale).round() as i32).max(1)
}

/// The whole frame as one view at `scale`.
fn whole(fw: i32, fh: i32, scale: f32) -> Placement {
    Placement {
        size: (scaled(fw, scale), scaled(fh, scale)),
        max_face: f32::INFINITY,
        yields_below: 0.0,
        item: 0,
        source: Rect {
            x: 0,
            y: 0,
            w: fw,
            h: fh,
        },
        scale,
        at: (0, 0),
        cut: [false; 4],
    }
}

/// The frame letterboxed into exactly `width` x `height`, scaled up if it is smaller: what the
/// reference implementations do, kept for `[detect] input_size` (parity with InsightFace).
/// The arithmetic (truncating the free side, one factor taken from the height) is theirs.
pub fn letterbox(frame: (u32, u32), width: u32, height: u32) -> Layout {
    let (w, h) = (frame.0.max(1) as f64, frame.1.max(1) as f64);
    let (iw, ih) = (width as f64, height as f64);
    let ratio = h / w;
    let (new_w, new_h) = if ratio > ih / iw {
        (((ih / ratio) as i32).max(1), ih as i32)
    } else {
        (iw as i32, ((iw * ratio) as i32).max(1))
    };
    let view = whole(frame.0 as i32, frame.1 as i32, (new_h as f64 / h) as f32);
    Layout {
        width,
        height,
        items: 1,
        placements: vec![Placement {
            size: (new_w, new_h),
            ..view
        }],
    }
}

/// The overview: the whole frame fitted into the model's input, never scaled up. A model of
/// free size gets an input fitted to the frame's aspect (a 16:9 frame costs 640x384, a 320x240
/// photo 320x256) instead of a padded square.
pub fn overview(frame: (u32, u32), shape: &InputShape) -> Layout {
    let (fw, fh) = (frame.0.max(1), frame.1.max(1));
    let scale = (shape.width as f32 / fw as f32)
        .min(shape.height as f32 / fh as f32)
        .min(1.0);
    let (width, height) = if shape.free_size {
        let sw = ((fw as f32 * scale).round() as u32).max(1);
        let sh = ((fh as f32 * scale).round() as u32).max(1);
        (
            round_up(sw, shape.step).min(round_up(shape.width, shape.step)),
            round_up(sh, shape.step).min(round_up(shape.height, shape.step)),
        )
    } else {
        (shape.width, shape.height)
    };
    let yields_below = if needs_detail(frame, shape) {
        DETAIL_UP_TO / scale
    } else {
        0.0
    };
    Layout {
        width,
        height,
        items: 1,
        placements: vec![Placement {
            yields_below,
            ..whole(fw as i32, fh as i32, scale)
        }],
    }
}

/// Whether the overview sees the frame smaller than it is, so small faces need the detail.
pub fn needs_detail(frame: (u32, u32), shape: &InputShape) -> bool {
    frame.0 > shape.width || frame.1 > shape.height
}

/// The scale of the detail: the frame's own resolution, or for a free-size model a frame over
/// [`MAX_DETAIL_SIDE`] scaled down to it (a fixed model's tiles are always at full resolution).
fn detail_scale(frame: (u32, u32), shape: &InputShape) -> f32 {
    if shape.free_size {
        (MAX_DETAIL_SIDE as f32 / frame.0.max(frame.1).max(1) as f32).min(1.0)
    } else {
        1.0
    }
}

/// The detail: the whole frame at its own resolution (up to [`MAX_DETAIL_SIDE`]), in one view for
/// a model of free size, or in overlapping tiles of the model's size, batched when it can.
pub fn detail(frame: (u32, u32), shape: &InputShape) -> Vec<Layout> {
    let (fw, fh) = (frame.0.max(1), frame.1.max(1));
    let max_face = DETAIL_UP_TO / overview(frame, shape).placements[0].scale;
    if shape.free_size {
        let scale = detail_scale(frame, shape);
        let width = round_up((fw as f32 * scale).round() as u32, shape.step);
        let height = round_up((fh as f32 * scale).round() as u32, shape.step);
        return vec![Layout {
            width,
            height,
            items: 1,
            placements: vec![Placement {
                max_face,
                ..whole(fw as i32, fh as i32, scale)
            }],
        }];
    }
    let (tw, th) = (shape.width as i32, shape.height as i32);
    let starts = |len: i32, tile: i32| -> Vec<i32> {
        if len <= tile {
            return vec![0];
        }
        // Each start is rounded up to the model's grid below, which can take a step off the
        // overlap.
        let step = shape.step as i32;
        let stride = (tile - TILE_OVERLAP - step).max(1);
        let n = (len - tile + stride - 1) / stride + 1;
        // Spread evenly, the last tile reaching the frame's edge; each on the grid of frame
        // pixels a full-resolution region lies on, so a face's anchors are the same in both.
        (0..n)
            .map(|i| {
                round_up(
                    (i64::from(len - tile) * i64::from(i) / i64::from(n - 1)) as u32,
                    shape.step,
                ) as i32
            })
            .collect()
    };
    let (fw, fh) = (fw as i32, fh as i32);
    let mut tiles = Vec::new();
    for &y in &starts(fh, th) {
        for &x in &starts(fw, tw) {
            let source = Rect {
                x,
                y,
                w: tw.min(fw - x),
                h: th.min(fh - y),
            };
            tiles.push(Placement {
                item: tiles.len(),
                source,
                scale: 1.0,
                at: (0, 0),
                size: (source.w, source.h),
                max_face,
                yields_below: 0.0,
                cut: [x > 0, y > 0, x + source.w < fw, y + source.h < fh],
            });
        }
    }
    batches(tiles, shape)
}

/// The inputs of a fixed-size model for `placements` already assigned to images (`item`): one
/// batch when the model takes several images a call, else one call per image.
fn batches(placements: Vec<Placement>, shape: &InputShape) -> Vec<Layout> {
    let layout = |placements: Vec<Placement>| Layout {
        width: shape.width,
        height: shape.height,
        items: placements.iter().map(|p| p.item + 1).max().unwrap_or(1),
        placements,
    };
    if shape.batched {
        return vec![layout(placements)];
    }
    let images = placements.iter().map(|p| p.item + 1).max().unwrap_or(0);
    (0..images)
        .map(|i| {
            layout(
                placements
                    .iter()
                    .filter(|p| p.item == i)
                    .map(|p| Placement { item: 0, ..*p })
                    .collect(),
            )
        })
        .collect()
}

/// The region searched around a face box: [`REGION_SPAN`] face sizes, square, clipped to the
/// frame.
fn region(b: &BBox, frame: (i32, i32)) -> Rect {
    let side = ((b.width().max(b.height()) * REGION_SPAN).ceil() as i32)
        .max(MIN_REGION)
        .min(frame.0.min(frame.1));
    let (cx, cy) = ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let x = ((cx - side as f32 / 2.0).round() as i32).clamp(0, (frame.0 - side).max(0));
    let y = ((cy - side as f32 / 2.0).round() as i32).clamp(0, (frame.1 - side).max(0));
    Rect {
        x,
        y,
        w: side.min(frame.0),
        h: side.min(frame.1),
    }
}

/// `r` grown to the grid of a full pass's view at `scale`: its edges on multiples of `step`
/// input pixels. Scaled from there and placed on the model's grid, a region's pixels and anchors
/// are those of the full pass, so the detector finds the face there as it does in a full pass.
fn on_grid(r: Rect, scale: f32, step: u32, frame: (i32, i32)) -> Rect {
    let q = ((step as f32 / scale).round() as i32).max(1);
    let (x, y) = (r.x / q * q, r.y / q * q);
    let right = ((r.x + r.w + q - 1) / q * q).min(frame.0);
    let bottom = ((r.y + r.h + q - 1) / q * q).min(frame.1);
    Rect {
        x,
        y,
        w: right - x,
        h: bottom - y,
    }
}

/// Merges overlapping regions searched at the same scale into their bounding box where that
/// costs fewer pixels and still fits the model's input `max` (width, height) once scaled: two
/// students side by side are one region, not two overlapping ones searched twice, but a whole
/// row is never one strip that must be scaled down to fit. Regions on one grid merge into one on
/// it.
fn merge(mut regions: Vec<(Rect, f32)>, max: (u32, u32)) -> Vec<(Rect, f32)> {
    let area = |r: &Rect| i64::from(r.w) * i64::from(r.h);
    let union = |a: &Rect, b: &Rect| {
        let (x, y) = (a.x.min(b.x), a.y.min(b.y));
        Rect {
            x,
            y,
            w: (a.x + a.w).max(b.x + b.w) - x,
            h: (a.y + a.h).max(b.y + b.h) - y,
        }
    };
    let worth = |(a, sa): &(Rect, f32), (b, sb): &(Rect, f32)| {
        let u = union(a, b);
        sa == sb
            && scaled(u.w, *sa) <= max.0 as i32
            && scaled(u.h, *sa) <= max.1 as i32
            && area(&u) <= area(a) + area(b)
    };
    loop {
        let pair = (0..regions.len())
            .flat_map(|i| (i + 1..regions.len()).map(move |j| (i, j)))
            .find(|&(i, j)| worth(&regions[i], &regions[j]));
        let Some((i, j)) = pair else {
            return regions;
        };
        let (b, _) = regions.swap_remove(j);
        regions[i].0 = union(&regions[i].0, &b);
    }
}

/// The regions around `faces` (frame pixels), packed in rows into as few inputs as the model
/// allows: one input of free size, or batches of the model's size.
pub fn around(frame: (u32, u32), faces: &[BBox], shape: &InputShape) -> Vec<Layout> {
    let (fw, fh) = (frame.0.max(1) as i32, frame.1.max(1) as i32);
    if faces.is_empty() {
        return Vec::new();
    }
    let overview_scale = overview(frame, shape).placements[0].scale;
    let detail_scale = detail_scale(frame, shape);
    let regions = faces
        .iter()
        .map(|b| {
            // The view of a full pass that reports this face: the overview from DETAIL_UP_TO on.
            let scale = if b.min_side() * overview_scale >= DETAIL_UP_TO {
                overview_scale
            } else {
                detail_scale
            };
            (on_grid(region(b, (fw, fh)), scale, shape.step, (fw, fh)), scale)
        })
        .collect();
    let mut parts: Vec<(Rect, f32)> = merge(regions, (shape.width, shape.height))
        .into_iter()
        .map(|(r, scale)| {
            // A region never exceeds the model's own input size once scaled.
            let scale = scale
                .min(shape.width as f32 / r.w as f32)
                .min(shape.height as f32 / r.h as f32);
            (r, scale)
        })
        .collect();
    // Tallest first: shelves fill better.
    parts.sort_by(|a, b| (b.0.h as f32 * b.1).total_cmp(&(a.0.h as f32 * a.1)));
    let canvas_w = shape.width as i32;
    let mut placements = Vec::new();
    let (mut item, mut x, mut y, mut shelf) = (0usize, 0i32, 0i32, 0i32);
    for (r, scale) in parts {
        let (w, h) = (scaled(r.w, scale), scaled(r.h, scale));
        // On the model's grid, as the region lies on it in a full pass's view.
        let on_step = |v: i32| round_up(v as u32, shape.step) as i32;
        if x > 0 && on_step(x) + w > canvas_w {
            (x, y, shelf) = (0, on_step(y + shelf + GAP), 0);
        }
        x = on_step(x);
        if !shape.free_size && y > 0 && y + h > shape.height as i32 {
            (item, x, y, shelf) = (item + 1, 0, 0, 0);
        }
        placements.push(Placement {
            item,
            source: r,
            scale,
            at: (x, y),
            size: (w, h),
            max_face: f32::INFINITY,
            yields_below: if scale < detail_scale {
                DETAIL_UP_TO / overview_scale
            } else {
                0.0
            },
            cut: [r.x > 0, r.y > 0, r.x + r.w < fw, r.y + r.h < fh],
        });
        x += w + GAP;
        shelf = shelf.max(h);
    }
    if shape.free_size {
        let bottom = placements.iter().map(|p| p.at.1 + p.size.1).max().unwrap_or(1);
        let right = placements.iter().map(|p| p.at.0 + p.size.0).max().unwrap_or(1);
        return vec![Layout {
            width: round_up(right.max(1) as u32, shape.step),
            height: round_up(bottom.max(1) as u32, shape.step),
            items: 1,
            placements,
        }];
    }
    batches(placements, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: InputShape = InputShape {
        width: 640,
        height: 640,
        free_size: false,
        batched: false,
        step: 32,
    };
    const FREE: InputShape = InputShape {
        free_size: true,
        batched: true,
        ..FIXED
    };

    fn face(x: f32, y: f32, side: f32) -> BBox {
        BBox {
            x1: x,
            y1: y,
            x2: x + side,
            y2: y + side,
        }
    }

    #[test]
    fn the_overview_never_scales_a_small_photo_up() {
        let l = overview((320, 240), &FREE);
        assert_eq!((l.width, l.height), (320, 256));
        assert_eq!(l.placements[0].scale, 1.0);
        let l = overview((320, 240), &FIXED);
        assert_eq!((l.width, l.height), (640, 640), "a fixed model is padded, not scaled");
        assert_eq!(l.placements[0].scale, 1.0);
        let l = overview((1920, 1080), &FREE);
        assert_eq!((l.width, l.height), (640, 384));
        assert!((l.placements[0].scale - 1.0 / 3.0).abs() < 1e-6);
        assert!(!needs_detail((640, 480), &FREE) && needs_detail((1920, 1080), &FREE));
        // Where the detail searches the frame, faces it reports are its own.
        assert_eq!(overview((1920, 1080), &FREE).placements[0].yields_below, 96.0);
        assert_eq!(overview((640, 480), &FREE).placements[0].yields_below, 0.0);
    }

    #[test]
    fn the_detail_of_a_free_model_is_the_frame_itself_up_to_4k() {
        let l = &detail((1920, 1080), &FREE)[0];
        assert_eq!((l.width, l.height, l.placements[0].scale), (1920, 1088, 1.0));
        assert_eq!(l.placements[0].max_face, 96.0, "bigger faces are the overview's");
        let l = &detail((7680, 4320), &FREE)[0];
        assert_eq!((l.width, l.height), (3840, 2176));
    }

    #[test]
    fn tiles_cover_the_frame_overlapping_and_cut_only_inside_it() {
        let layouts = detail((1920, 1080), &FIXED);
        assert!(layouts.iter().all(|l| l.items == 1 && l.placements.len() == 1));
        let tiles: Vec<Placement> = layouts.iter().map(|l| l.placements[0]).collect();
        assert_eq!(tiles.len(), 8, "4 across and 2 down");
        // Every pixel is in some tile, and every face up to the overlap lies whole in one.
        for (x, y) in [(0, 0), (1919, 1079), (960, 540), (700, 600)] {
            assert!(tiles.iter().any(|t| {
                let s = t.source;
                x >= s.x && x < s.x + s.w && y >= s.y && y < s.y + s.h
            }));
        }
        for x in (0..1920 - TILE_OVERLAP).step_by(7) {
            let f = face(x as f32, 500.0, tiles[0].max_face);
            assert!(
                tiles.iter().any(|t| !t.touches_cut(&f)
                    && t.holds(&BBox {
                        x1: f.x1 - t.source.x as f32,
                        y1: f.y1 - t.source.y as f32,
                        x2: f.x2 - t.source.x as f32,
                        y2: f.y2 - t.source.y as f32,
                    })),
                "a face at x {x} lies whole in some tile"
            );
        }
        let first = tiles[0];
        assert_eq!(first.cut, [false, false, true, true]);
        // Each tile starts on the grid a region at full resolution lies on.
        for t in &tiles {
            assert_eq!((t.source.x % 32, t.source.y % 32), (0, 0), "{t:?}");
        }
        let batched = detail((1920, 1080), &InputShape { batched: true, ..FIXED });
        assert_eq!(
            (batched.len(), batched[0].items),
            (1, 8),
            "one call when the model takes batches"
        );
    }

    #[test]
    fn regions_surround_tracked_faces_and_pack_into_one_input() {
        let faces = [
            face(100.0, 100.0, 24.0),
            face(1500.0, 200.0, 20.0),
            face(900.0, 900.0, 40.0),
        ];
        let layouts = around((1920, 1080), &faces, &FREE);
        assert_eq!(layouts.len(), 1);
        let l = &layouts[0];
        assert_eq!(l.placements.len(), 3);
        assert!(l.width <= 640 && l.width.is_multiple_of(32) && l.height.is_multiple_of(32));
        assert!(
            (l.width * l.height) < 1920 * 1088 / 10,
            "a tenth of a full pass: {}x{}",
            l.width,
            l.height
        );
        for (p, f) in l.placements.iter().zip([faces[2], faces[0], faces[1]]) {
            assert_eq!(p.scale, 1.0, "small faces are searched at full resolution");
            // The face maps into the input and back to where it was.
            let [x, y] = [
                (f.x1 - p.source.x as f32) * p.scale + p.at.0 as f32,
                (f.y1 - p.source.y as f32) * p.scale + p.at.1 as f32,
            ];
            assert_eq!(p.to_frame([x, y]), [f.x1, f.y1]);
            assert!(!p.touches_cut(&f), "the tracked face is well inside its region");
        }
        // Each region lies on the grid it has in a full pass's view, and on the model's grid
        // in the input, so the detector sees its face as a full pass does.
        for p in &l.placements {
            assert_eq!((p.at.0 % 32, p.at.1 % 32), (0, 0), "{p:?}");
            let on_grid = |v: i32| (v as f32 * p.scale / 32.0).fract().abs() < 1e-3;
            assert!(on_grid(p.source.x) && on_grid(p.source.y), "{p:?}");
        }
        // Placements never overlap.
        for (i, a) in l.placements.iter().enumerate() {
            for b in &l.placements[i + 1..] {
                let (ax, ay, ax2, ay2) = a.in_input();
                let (bx, by, bx2, by2) = b.in_input();
                assert!(ax2 <= bx || bx2 <= ax || ay2 <= by || by2 <= ay);
            }
        }
    }

    #[test]
    fn neighbours_share_a_region_and_faces_are_searched_at_the_full_passs_scale() {
        let faces = [face(100.0, 100.0, 30.0), face(140.0, 100.0, 30.0)];
        let l = &around((1920, 1080), &faces, &FREE)[0];
        assert_eq!(l.placements.len(), 1, "overlapping regions merge");
        // A face the overview sees at 32 px or more is searched at the overview's scale, as a
        // full pass finds it; a smaller one at the detail's.
        let overview_scale = overview((1920, 1080), &FREE).placements[0].scale;
        let big = [face(600.0, 300.0, 300.0)];
        let l = &around((1920, 1080), &big, &FREE)[0];
        assert_eq!(l.placements[0].scale, overview_scale);
        assert_eq!(l.placements[0].yields_below, 96.0, "as the overview does");
        assert!(l.width <= 640 && l.height <= 640);
        let just_under = [face(600.0, 300.0, 95.0)];
        assert_eq!(around((1920, 1080), &just_under, &FREE)[0].placements[0].scale, 1.0);
        let at_4k = [face(600.0, 300.0, 40.0)];
        assert_eq!(around((5760, 3240), &at_4k, &FREE)[0].placements[0].scale, 2.0 / 3.0);
        assert!(around((1920, 1080), &[], &FREE).is_empty());
    }

    #[test]
    fn regions_of_a_fixed_model_fill_its_input_then_the_next() {
        // Two rows of twelve students of 60 px: a row is never one strip scaled down to fit.
        let faces: Vec<BBox> = (0..24)
            .map(|i| face(150.0 * (i % 12) as f32, 300.0 + 400.0 * (i / 12) as f32, 60.0))
            .collect();
        let layouts = around((1920, 1080), &faces, &FIXED);
        assert!(layouts.len() >= 2, "{} inputs", layouts.len());
        for l in &layouts {
            assert_eq!((l.width, l.height, l.items), (640, 640, 1));
            for p in &l.placements {
                let (_, _, x2, y2) = p.in_input();
                assert!(x2 <= 640.0 && y2 <= 640.0);
                assert_eq!(p.scale, 1.0, "searched at full resolution");
            }
        }
        for f in &faces {
            let seen = layouts.iter().flat_map(|l| &l.placements).any(|p| {
                let s = p.source;
                f.x1 >= s.x as f32 && f.x2 <= (s.x + s.w) as f32 && f.y1 >= s.y as f32 && f.y2 <= (s.y + s.h) as f32
            });
            assert!(seen, "every face lies whole in some region");
        }
    }

    #[test]
    fn letterbox_keeps_the_references_arithmetic() {
        let l = letterbox((1000, 300), 640, 640);
        assert_eq!(l.placements[0].size, (640, 192));
        assert!((l.placements[0].scale - 0.64).abs() < 1e-6);
        let l = letterbox((300, 1000), 640, 640);
        assert_eq!(l.placements[0].size, (192, 640));
        assert!((l.placements[0].scale - 0.64).abs() < 1e-6);
        let l = letterbox((320, 240), 640, 640);
        assert!(l.placements[0].scale > 1.9, "the references scale small frames up");
    }
}
