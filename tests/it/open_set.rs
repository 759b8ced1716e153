//! Open-set identification on the shared photos, as the engine decides it (threshold + margin):
//! the false-accept and false-reject figures behind each recognizer's defaults.
//!
//! Gallery: one photo per enrolled person (their `_1` photo). Genuine probes: their other photos.
//! Impostor probes: every face of people who are not enrolled (Lin-Manuel Miranda, the vectron
//! and insightface photos, the live anti-spoofing sample).

use rollcall::attend::matching::Gallery;
use rollcall::config::PersonScore;
use rollcall::config::RecognizeConfig;

const ENROLLED: [&str; 5] = ["obama", "biden", "kit", "rose", "alex"];

fn main_face(p: &mut rollcall::vision::analyze::FaceAnalyzer, rel: &str) -> rollcall::vision::embed::Embedding {
    let faces = testkit::analyze(p, &testkit::face(rel));
    faces
        .into_iter()
        .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
        .unwrap()
        .embedding
}

fn evaluate(detector: &str, recognizer: &str) {
    let mut p = testkit::analyzer(detector, recognizer);
    let threshold = p.recognizer().threshold();
    let margin = RecognizeConfig::default().margin;
    let mut g = Gallery::new(p.recognizer().id().clone(), p.recognizer().dim());
    for person in ENROLLED {
        g.add(
            person,
            &main_face(&mut p, &format!("ageitgey/identities/{person}_1.jpg")),
        )
        .unwrap();
    }
    let (mut genuine, mut correct, mut wrong, mut rejected) = (0, 0, 0, 0);
    for photo in testkit::photos_under(&testkit::face("ageitgey/identities")) {
        let file = photo.file_name().unwrap().to_string_lossy().to_string();
        let person = file.split('_').next().unwrap();
        if !ENROLLED.contains(&person) || file.contains("_1.") {
            continue;
        }
        genuine += 1;
        let c = g
            .search_in(
                &main_face(&mut p, &format!("ageitgey/identities/{file}")),
                None,
                PersonScore::Best,
            )
            .unwrap();
        match c.accepted(threshold, margin) {
            Some(who) if who == person => correct += 1,
            Some(_) => wrong += 1,
            None => rejected += 1,
        }
    }
    let mut impostors = 0;
    let mut accepted = Vec::new();
    let strangers = [
        "ageitgey/identities/linmanuel_1.png",
        "vectron",
        "insightface_t1_group.jpg",
        "silent_face_samples/image_T1.jpg",
    ];
    for s in strangers {
        let path = testkit::face(s);
        let photos = if path.is_dir() {
            testkit::photos_under(&path)
        } else {
            vec![path]
        };
        for photo in photos {
            for f in testkit::analyze(&mut p, &photo) {
                impostors += 1;
                let c = g.search_in(&f.embedding, None, PersonScore::Best).unwrap();
                if let Some(who) = c.accepted(threshold, margin) {
                    accepted.push(format!("{} as {who}", photo.display()));
                }
            }
        }
    }
    println!(
        "{recognizer} (threshold {threshold}, margin {margin}): genuine {genuine}: {correct} accepted, {rejected} rejected \
         (FRR {:.1}%), {wrong} misidentified; impostor faces {impostors}: {} accepted (FAR {:.2}%)",
        100.0 * rejected as f64 / genuine as f64,
        accepted.len(),
        100.0 * accepted.len() as f64 / impostors as f64
    );
    assert!(accepted.is_empty(), "strangers taken for students: {accepted:?}");
    assert_eq!(wrong, 0, "a student taken for another");
    assert!(
        correct * 10 >= genuine * 8,
        "too many students rejected: {correct}/{genuine}"
    );
}

#[test]
fn sface_open_set_figures() {
    evaluate("yunet-2023mar", "sface-2021dec");
}

#[test]
fn arcface_open_set_figures() {
    evaluate("scrfd-500m", "arcface-w600k-mbf");
}
