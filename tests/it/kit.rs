//! The test kit's own parts that could be wrong without any test noticing.

use std::path::PathBuf;

#[test]
fn a_figure_cache_entry_is_computed_once_and_reads_back_exactly() {
    let photos: Vec<PathBuf> = ["ageitgey/identities/obama_1.jpg", "vectron/yaoming.jpg"]
        .iter()
        .map(|p| testkit::face(p))
        .collect();
    let rows = vec![vec![0.1, -1.0e-7, 123.456_79, f32::MIN_POSITIVE], vec![0.999_999_9]];
    let what = format!("kit-selftest-{}", std::process::id());
    let mut computed = 0;
    let mut ask = || {
        testkit::figure_cache::rows(&what, &[&photos[0]], "settings", &photos, || {
            computed += 1;
            rows.clone()
        })
    };
    assert_eq!(ask(), rows);
    assert_eq!(ask(), rows, "read back from target/figure-cache");
    assert_eq!(computed, 1);
    for entry in std::fs::read_dir(testkit::root().join("target/figure-cache")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&what)) {
            std::fs::remove_file(path).unwrap();
        }
    }
}
