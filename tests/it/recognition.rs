//! Recognition on real photos: with each recognizer, every same-person pair of the shared
//! identities scores above every different-person pair, and the default threshold separates them.

fn separation(detector: &str, recognizer: &str) {
    let mut analyzer = testkit::analyzer(detector, recognizer);
    let threshold = analyzer.recognizer().threshold();
    let (same_min, diff_max) = testkit::separation(&mut analyzer);
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
