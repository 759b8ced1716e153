//! PReLU rewritten as `a·x + (1−a)·Relu(x)` for ONNX Runtime 1.27 and newer, whose PReLU kernel
//! is scalar (`vision::model::onnx_edit::prelu_as_relu_and_scales`): on real faces, the rewritten
//! models must give what the files give.

use opencv::core::Mat;
use rollcall::config::PreluRewrite;
use rollcall::vision::detect::BBox;
use rollcall::vision::model::{Runtime, RuntimeSettings};

#[test]
fn rewritten_prelu_gives_the_files_embeddings_and_live_scores() {
    for recognizer in ["sface-2021dec", "arcface-w600k-mbf"] {
        let config = testkit::config("yunet-s", recognizer);
        let runtime = Runtime::load(&RuntimeSettings::from_config(&config)).unwrap();
        assert!(
            runtime.rewrites_prelu(),
            "the fetched ONNX Runtime ({}) should be one whose PReLU is rewritten",
            runtime.library().display()
        );
        let mut rewritten = testkit::analyzer_for(&config);
        let mut as_filed = {
            let mut c = config.clone();
            c.runtime.rewrite_prelu = PreluRewrite::Never;
            testkit::analyzer_for(&c)
        };
        let (mut faces, mut worst_cosine, mut worst_live, mut identical) = (0, 1.0f32, 0.0f32, true);
        for photo in testkit::speed_photos() {
            let frame = rollcall::capture::image::load(&photo, rollcall::config::DEFAULT_MAX_PIXELS).unwrap();
            let observed = rewritten.observe(&frame).unwrap();
            let crops: Vec<Mat> = observed.iter().map(|o| o.aligned.clone()).collect();
            let boxes: Vec<BBox> = observed.iter().map(|o| o.face.bbox).collect();
            let (new, old) = (rewritten.embed(&crops).unwrap(), as_filed.embed(&crops).unwrap());
            for (n, o) in new.iter().zip(&old) {
                worst_cosine = worst_cosine.min(n.similarity(o).unwrap());
                identical &= n == o;
            }
            let new = rewritten.live_scores(&frame, &boxes).unwrap().unwrap();
            let old = as_filed.live_scores(&frame, &boxes).unwrap().unwrap();
            for (n, o) in new.iter().zip(&old) {
                worst_live = worst_live.max((n - o).abs());
            }
            faces += crops.len();
        }
        println!(
            "{recognizer}: {faces} faces, rewritten against as filed: least cosine {worst_cosine:.7}, widest live-score change {worst_live:.2e}"
        );
        assert!(faces >= 60, "only {faces} faces found");
        // The sums round where PReLU's products do not: bit-identical output on every face
        // would mean the rewrite never ran.
        assert!(
            !identical,
            "{recognizer}: the rewritten model gave bit-identical embeddings"
        );
        testkit::assert_unchanged(recognizer, worst_cosine, worst_live);
    }
}
