//! `rollcall cameras check` as an installer meets it: a camera showing a big, sharp face is
//! good (exit 0); the same scene from a tiny stream is unusable (exit 2), with advice that says
//! why and what to change.

use std::path::Path;
use std::process::{Command, Output};

fn config_for(dir: &Path, clip: &Path) -> std::path::PathBuf {
    let root = testkit::root();
    let toml = format!(
        "[models]\ndir = {:?}\n\n[runtime]\nonnxruntime = {:?}\n\n[[cameras]]\nid = \"front\"\nkind = \"uri\"\nuri = {:?}\nloop = true\nroom = \"101\"\nanalysis_fps = 5\n",
        root.join("models"),
        root.join(rollcall::vision::model::default_library()),
        clip
    );
    let path = dir.join("rollcall.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn check(config: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .env_remove("ROLLCALL_CONFIG")
        .arg("--config")
        .arg(config)
        .args(["cameras", "check", "--seconds", "4"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_big_sharp_face_is_good_and_a_tiny_stream_is_unusable() {
    let dir = testkit::scratch_dir("camera_check", "verdicts");
    let video = testkit::shared().join("videos/liveportrait_s18.mp4");

    let picture = dir.join("front.jpg");
    let picture_arg = picture.to_string_lossy().into_owned();
    let good = check(
        &config_for(&dir, &video),
        &["--json", "--camera", "front", "--annotate", &picture_arg],
    );
    let out = String::from_utf8_lossy(&good.stdout);
    println!("{out}{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(good.status.code(), Some(0), "{out}");
    let verdict: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(verdict["fitness"], "good");
    assert_eq!(verdict["camera"], "front");
    assert!(verdict["face_px"][1].as_f64().unwrap() >= 80.0, "{verdict}");
    assert_eq!(verdict["too_small_per_frame"], 0.0, "{verdict}");
    assert!(picture.exists(), "the annotated picture was written where asked");

    // The same clip from a 128x72 stream: her face is about 20 px.
    let tiny = dir.join("tiny.mp4");
    testkit::encode::run_to_eos(
        &format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=128,height=72 ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
            video.display(),
            tiny.display()
        ),
        120,
    );
    let unusable = check(&config_for(&dir, &tiny), &[]);
    let (out, err) = (
        String::from_utf8_lossy(&unusable.stdout),
        String::from_utf8_lossy(&unusable.stderr),
    );
    println!("{out}{err}");
    assert_eq!(unusable.status.code(), Some(2), "{out}{err}");
    assert!(out.contains("verdict: UNUSABLE"), "{out}");
    assert!(
        out.contains("too small to recognise anyone") || out.contains("no face was seen"),
        "{out}"
    );
    assert!(out.contains("main stream"), "the advice says what to do: {out}");
    if out.contains("too small to recognise anyone") {
        // Her face was seen: it is counted as one the camera cannot serve.
        let label = format!(
            "seen but too small to recognise (under {:.0} px): ",
            rollcall::attend::decide::MIN_COMPARE_PX
        );
        let per_frame: f32 = out
            .lines()
            .find_map(|l| l.trim().strip_prefix(label.as_str()))
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no too-small count in {out}"));
        assert!(per_frame > 0.5, "{out}");
    }
    assert!(err.contains("unusable for attendance"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
