//! Spoof episodes: one alert per attack at one place of one camera, however many tracks it
//! takes.
//!
//! A held photo or a phone is followed as one face only while the tracker keeps it: when it is
//! lowered and raised again, turned, or seen two ways by the detector, each fragment is a track
//! of its own and each comes to a spoof verdict. One alert per fragment told the staff the same
//! thing seven times. So a spoof verdict of the same face (its embedding as close as the
//! recognizer's own threshold asks of one person) near the place of an earlier one on the same
//! camera, within `[liveness] alert_episode_s` of its latest verdict, joins that episode: its
//! alert's count grows, and no new alert goes out. Someone else's photo, in the same place or
//! across the room, is another episode and another alert.
//!
//! Plain data and pure rules, so they are tested without models.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::vision::detect::BBox;

/// Open episodes kept per camera: the oldest ends early when more are open at once, so the
/// memory they take is bounded whatever a camera shows.
pub const MAX_OPEN_PER_CAMERA: usize = 32;

/// One attack at one place, until it is left alone for the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// The alert raised for its first verdict.
    pub alert_id: String,
    /// The face box of its latest verdict, frame pixels.
    pub place: BBox,
    /// The face's embedding at its first verdict (unit length), when one could be made.
    pub look: Option<Vec<f32>>,
    /// Frame time of its latest verdict.
    pub last: DateTime<Utc>,
    /// Spoof verdicts in it, the first included.
    pub count: u32,
}

/// What a new spoof verdict is.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The first of a new episode: raise an alert.
    New,
    /// Another in an episode whose alert was raised: count it there.
    Repeat {
        /// The episode's alert.
        alert_id: String,
        /// Its verdicts now, this one included.
        count: u32,
    },
}

/// The open episodes of every camera.
#[derive(Debug, Default)]
pub struct Episodes {
    window: Duration,
    same_person: f32,
    open: HashMap<String, Vec<Episode>>,
}

/// A face seen at a spoof verdict: where, and its embedding when one could be made.
#[derive(Debug, Clone, Copy)]
pub struct Sighting<'a> {
    /// The face box, frame pixels.
    pub place: BBox,
    /// Its embedding (unit length).
    pub look: Option<&'a [f32]>,
    /// Frame time of the verdict.
    pub at: DateTime<Utc>,
}

/// Whether two looks are one person at `same_person` (cosine); without either, the place alone
/// decides.
fn same_look(a: Option<&[f32]>, b: Option<&[f32]>, same_person: f32) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() >= same_person,
        _ => true,
    }
}

/// Whether `face` is at `place`: its centre within one face size of the place's, at a size
/// between two thirds and one and a half of it (a face lowered and raised, a box that wavers).
pub fn same_place(place: &BBox, face: &BBox) -> bool {
    let centre = |b: &BBox| ((b.x1 + b.x2) / 2.0, (b.y1 + b.y2) / 2.0);
    let (a, b) = (centre(place), centre(face));
    let size = place.width().max(place.height()).max(1.0);
    let distance = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
    let scale = face.width().max(1.0) / place.width().max(1.0);
    distance < size && (0.67..1.5).contains(&scale)
}

impl Episodes {
    /// Episodes that end when no verdict joins them for `window`; two faces are one person
    /// from a cosine of `same_person` (the recognizer's threshold).
    pub fn new(window: Duration, same_person: f32) -> Episodes {
        Episodes {
            window,
            same_person,
            open: HashMap::new(),
        }
    }

    /// Places a spoof verdict on `camera`: a new episode, or a repeat of an open one of the same
    /// face at the same place (which then moves to the new place and starts its window again).
    pub fn place(&mut self, camera: &str, seen: &Sighting<'_>) -> Verdict {
        let (window, same_person) = (self.window, self.same_person);
        let open = self.open.entry(camera.to_string()).or_default();
        open.retain(|e| seen.at - e.last <= window);
        let joined = open
            .iter_mut()
            .find(|e| same_place(&e.place, &seen.place) && same_look(e.look.as_deref(), seen.look, same_person));
        match joined {
            Some(e) => {
                e.place = seen.place;
                e.last = e.last.max(seen.at);
                e.count += 1;
                Verdict::Repeat {
                    alert_id: e.alert_id.clone(),
                    count: e.count,
                }
            }
            None => Verdict::New,
        }
    }

    /// Opens an episode for the alert just raised about `seen`.
    pub fn open(&mut self, camera: &str, alert_id: &str, seen: &Sighting<'_>) {
        let open = self.open.entry(camera.to_string()).or_default();
        if open.len() >= MAX_OPEN_PER_CAMERA
            && let Some(oldest) = (0..open.len()).min_by_key(|&i| open[i].last)
        {
            open.swap_remove(oldest);
        }
        open.push(Episode {
            alert_id: alert_id.to_string(),
            place: seen.place,
            look: seen.look.map(<[f32]>::to_vec),
            last: seen.at,
            count: 1,
        });
    }

    /// Open episodes of `camera`.
    pub fn of(&self, camera: &str) -> &[Episode] {
        self.open.get(camera).map(Vec::as_slice).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn face(x: f32, side: f32) -> BBox {
        BBox {
            x1: x,
            y1: 100.0,
            x2: x + side,
            y2: 100.0 + side,
        }
    }

    const ANN: [f32; 2] = [1.0, 0.0];
    const BOB: [f32; 2] = [0.0, 1.0];

    fn seen(x: f32, side: f32, look: &[f32], s: i64) -> Sighting<'_> {
        Sighting {
            place: face(x, side),
            look: Some(look),
            at: at(s),
        }
    }

    #[test]
    fn fragments_of_one_attack_are_one_alert_counted_and_other_places_and_faces_their_own() {
        let mut episodes = Episodes::new(Duration::seconds(600), 0.36);
        assert_eq!(episodes.place("door", &seen(100.0, 80.0, &ANN, 0)), Verdict::New);
        episodes.open("door", "a1", &seen(100.0, 80.0, &ANN, 0));
        // Lowered and raised again, a little to the side and bigger.
        assert_eq!(
            episodes.place("door", &seen(150.0, 100.0, &ANN, 30)),
            Verdict::Repeat {
                alert_id: "a1".into(),
                count: 2
            }
        );
        // Someone else's photo in the same place, the same photo across the room, and the same
        // place on another camera.
        assert_eq!(episodes.place("door", &seen(150.0, 100.0, &BOB, 35)), Verdict::New);
        assert_eq!(episodes.place("door", &seen(900.0, 80.0, &ANN, 40)), Verdict::New);
        assert_eq!(episodes.place("hall", &seen(100.0, 80.0, &ANN, 40)), Verdict::New);
        // Without an embedding, the place decides.
        let blind = Sighting {
            look: None,
            ..seen(150.0, 100.0, &ANN, 50)
        };
        assert!(matches!(
            episodes.place("door", &blind),
            Verdict::Repeat { count: 3, .. }
        ));
        // The window runs from the latest verdict: 550 s after it the episode goes on, 601 s
        // after, a new one begins.
        assert!(matches!(
            episodes.place("door", &seen(150.0, 100.0, &ANN, 600)),
            Verdict::Repeat { count: 4, .. }
        ));
        assert_eq!(episodes.place("door", &seen(150.0, 100.0, &ANN, 1201)), Verdict::New);
        assert!(episodes.of("door").is_empty(), "ended episodes are let go");
    }

    #[test]
    fn a_camera_keeps_a_bounded_number_of_open_episodes() {
        let mut episodes = Episodes::new(Duration::seconds(600), 0.36);
        for i in 0..100 {
            episodes.open("door", &format!("a{i}"), &seen(200.0 * i as f32, 50.0, &ANN, i));
        }
        assert_eq!(episodes.of("door").len(), MAX_OPEN_PER_CAMERA);
        assert!(
            episodes.of("door").iter().all(|e| e.alert_id != "a0"),
            "the oldest went first"
        );
    }

    #[test]
    fn a_face_is_at_a_place_when_near_it_and_about_its_size() {
        let place = face(100.0, 80.0);
        assert!(same_place(&place, &face(120.0, 90.0)));
        assert!(!same_place(&place, &face(200.0, 80.0)), "a face size away");
        assert!(!same_place(&place, &face(100.0, 160.0)), "twice the size");
    }
}
