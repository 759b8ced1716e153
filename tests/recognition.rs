//! Recognition on real photos: with each recognizer, every same-person pair of the shared
//! identities scores above every different-person pair, and the default threshold separates them.

mod common;

use rollcall::vision::embed::Embedding;

/// The person in an identity photo: `obama_partial_face.jpg` and `obama_3.jpg` are both "obama".
fn person(file: &str) -> &str {
    file.split('_').next().unwrap_or(file)
}

fn separation(detector: &str, recognizer: &str) {
    let mut analyzer = common::analyzer(detector, recognizer);
    let threshold = analyzer.recognizer().threshold();
    let mut people: Vec<(String, String, Embedding)> = Vec::new();
    for photo in common::photos_under(&common::face("ageitgey/identities")) {
        let faces = common::analyze(&mut analyzer, &photo);
        // The subject is the largest face (biden_2.jpg has bystanders).
        let main = faces
            .into_iter()
            .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
            .unwrap_or_else(|| panic!("no face in {}", photo.display()));
        let file = photo.file_name().unwrap().to_string_lossy().to_string();
        people.push((person(&file).to_string(), file, main.embedding));
    }
    let (mut same_min, mut diff_max) = ((1.0f32, String::new()), (-1.0f32, String::new()));
    for (i, a) in people.iter().enumerate() {
        for b in &people[i + 1..] {
            let sim = a.2.similarity(&b.2).unwrap();
            let pair = format!("{} ~ {}", a.1, b.1);
            if a.0 == b.0 {
                if sim < same_min.0 {
                    same_min = (sim, pair);
                }
            } else if sim > diff_max.0 {
                diff_max = (sim, pair);
            }
        }
    }
    println!(
        "{recognizer}: lowest same-person {:.3} ({}), highest different-person {:.3} ({}), margin {:.3}, threshold {threshold}",
        same_min.0,
        same_min.1,
        diff_max.0,
        diff_max.1,
        same_min.0 - diff_max.0
    );
    assert!(
        same_min.0 > diff_max.0,
        "{recognizer}: same-person {same_min:?} not above different-person {diff_max:?}"
    );
    assert!(
        diff_max.0 < threshold && threshold <= same_min.0,
        "{recognizer}: threshold {threshold} does not separate"
    );
}

#[test]
fn sface_separates_the_shared_identities() {
    separation("yunet-2023mar", "sface-2021dec");
}

#[test]
fn arcface_separates_the_shared_identities() {
    separation("scrfd-500m", "arcface-w600k-mbf");
}
