//! Model descriptions are data: a new ArcFace-family model drops in through config, and a file
//! that contradicts its description is refused at load, naming the mismatch.

use rollcall::config::Config;
use rollcall::vision::analyze::FaceAnalyzer;
use std::time::{Duration, Instant};

fn with_custom(toml: &str, detector: &str, recognizer: &str) -> Config {
    let parsed = Config::parse(toml, &testkit::root().join("config/test.toml")).unwrap();
    let mut c = testkit::config(detector, recognizer);
    c.models.custom = parsed.models.custom;
    testkit::pin_custom_models(&mut c);
    c
}

fn load_error(config: &Config) -> String {
    match FaceAnalyzer::from_config(config) {
        Ok(_) => panic!("the model loaded, but it should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_new_arcface_family_model_drops_in_through_config() {
    let toml = r#"
        [[models.custom]]
        name = "my-arcface"
        kind = "recognizer"
        family = "arcface"
        file = "w600k_mbf.onnx"
        input = { width = 112, height = 112, channels = "rgb", mean = 127.5, std = 127.5 }
        recognizer = { dim = 512, threshold = 0.3 }
    "#;
    let mut p = testkit::analyzer_for(&with_custom(toml, "scrfd-500m", "my-arcface"));
    let faces = testkit::analyze(&mut p, &testkit::face("ageitgey/identities/obama_1.jpg"));
    assert_eq!(&*faces[0].embedding.recognizer, "my-arcface");
    assert_eq!(faces[0].embedding.vector.len(), 512);
}

#[test]
fn a_recognizer_with_the_wrong_dimension_is_refused_naming_it() {
    let toml = r#"
        [[models.custom]]
        name = "sface-claims-512"
        kind = "recognizer"
        family = "arcface"
        file = "face_recognition_sface_2021dec.onnx"
        input = { width = 112, height = 112, channels = "rgb", mean = 0.0, std = 1.0 }
        recognizer = { dim = 512, threshold = 0.3 }
    "#;
    let e = load_error(&with_custom(toml, "yunet-2023mar", "sface-claims-512"));
    assert!(
        e.contains("sface-claims-512") && e.contains("does not match its description"),
        "{e}"
    );
    assert!(e.contains("128 values per face") && e.contains("dim = 512"), "{e}");
}

#[test]
fn a_detector_with_the_wrong_input_size_or_family_is_refused() {
    let toml = r#"
        [[models.custom]]
        name = "yunet-320"
        kind = "detector"
        family = "yunet"
        file = "face_detection_yunet_2023mar.onnx"
        input = { width = 320, height = 320, channels = "bgr", mean = 0.0, std = 1.0 }
        detector = { strides = [8, 16, 32], anchors = 1, score_threshold = 0.6, nms_threshold = 0.3 }

        [[models.custom]]
        name = "yunet-as-scrfd"
        kind = "detector"
        family = "scrfd"
        file = "face_detection_yunet_2023mar.onnx"
        input = { width = 640, height = 640, channels = "bgr", mean = 0.0, std = 1.0 }
        detector = { strides = [8, 16, 32], anchors = 2, score_threshold = 0.5, nms_threshold = 0.4 }
    "#;
    let e = load_error(&with_custom(toml, "yunet-320", "sface-2021dec"));
    assert!(e.contains("640x640 (HxW) but the description says 320x320"), "{e}");
    let e = load_error(&with_custom(toml, "yunet-as-scrfd", "sface-2021dec"));
    assert!(e.contains("it has 12 outputs") && e.contains("has 9"), "{e}");
}

#[test]
fn a_missing_model_file_says_how_to_get_it() {
    let mut c = testkit::config("yunet-2023mar", "sface-2021dec");
    c.models.dir = testkit::root().join("no-such-dir");
    let e = load_error(&c);
    assert!(e.contains("not found") && e.contains("scripts/setup.sh"), "{e}");
}

#[test]
fn a_model_of_the_wrong_kind_is_refused() {
    let c = testkit::config("sface-2021dec", "sface-2021dec");
    let e = load_error(&c);
    assert!(
        e.contains("is a recognizer model, but it is configured as the detector"),
        "{e}"
    );
}

/// A model file altered where models live is refused when it loads, naming the file, though it
/// was fetched whole; so is the fetched ONNX Runtime altered, before it is loaded at all. Before,
/// only the fetch checked hashes: both loaded and ran.
#[test]
fn a_model_or_the_runtime_altered_on_disk_is_refused_naming_the_file() {
    let dir = testkit::scratch_dir("models", "altered");
    let mut c = testkit::config("yunet-2023mar", "sface-2021dec");
    c.models.antispoof.clear();
    for file in [
        "face_detection_yunet_2023mar.onnx",
        "face_recognition_sface_2021dec.onnx",
    ] {
        std::fs::copy(c.models.dir.join(file), dir.join(file)).unwrap();
    }
    c.models.dir = dir.clone();
    testkit::analyzer_for(&c);
    // One byte of the recognizer's weights changed: it would still load and run.
    let altered = dir.join("face_recognition_sface_2021dec.onnx");
    let mut bytes = std::fs::read(&altered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&altered, &bytes).unwrap();
    let e = load_error(&c);
    assert!(
        e.contains("sface-2021dec") && e.contains(&altered.display().to_string()) && e.contains("altered or replaced"),
        "{e}"
    );

    // The runtime, under the fetched build's name, with bytes added at its end (dlopen would
    // take it): `rollcall detect` in a process of its own, since a process loads one runtime.
    let ort = dir.join(rollcall::vision::model::fetched_library_name());
    let mut lib = std::fs::read(testkit::root().join(rollcall::vision::model::default_library())).unwrap();
    lib.extend_from_slice(b"planted");
    std::fs::write(&ort, lib).unwrap();
    let config = dir.join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nonnxruntime = {:?}\n[models]\ndir = {:?}\ndetector = \"yunet-2023mar\"\nantispoof = []\n",
            ort.display().to_string(),
            testkit::root().join("models").display().to_string()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(testkit::rollcall_exe())
        .arg("--config")
        .arg(&config)
        .arg("detect")
        .arg(testkit::face("ageitgey/identities/obama_1.jpg"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the altered runtime ran");
    assert!(
        said.contains("ONNX Runtime library")
            && said.contains(&ort.display().to_string())
            && said.contains("altered or replaced"),
        "{said}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// `sudo rollcall models fetch` works in a folder of its own. Before, it worked in
/// `/tmp/rollcall-models-fetch-PID`, made with `create_dir_all`, so a local user who made that
/// folder (or a link by that name) first chose where root wrote and which wheels it reused; and
/// Ctrl-C left the folder behind. Now such planted names change nothing, and Ctrl-C during the
/// fetch stops it and removes its folder.
#[test]
fn models_fetch_ignores_planted_work_folders_and_cleans_up_on_ctrl_c() {
    let dir = testkit::scratch_dir("models", "fetch");
    let tmp = dir.join("tmp");
    let victim = dir.join("victim");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::create_dir_all(&victim).unwrap();
    // Every name the old scheme could pick for the next few thousand processes, linked to a
    // folder of the attacker's choosing.
    let next = std::process::Command::new("true").spawn().unwrap().id();
    for pid in next..next + 4000 {
        std::os::unix::fs::symlink(&victim, tmp.join(format!("rollcall-models-fetch-{pid}"))).unwrap();
    }
    // A box with everything already fetched: the run checks each file and downloads nothing.
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    for spec in rollcall::config::Catalogue::builtin().iter() {
        let from = testkit::root().join("models").join(&spec.file);
        if spec.source.is_some() && from.is_file() {
            std::fs::copy(&from, models.join(&spec.file)).unwrap();
        }
    }
    let ort = dir.join("ort").join(rollcall::vision::model::fetched_library_name());
    std::fs::create_dir_all(ort.parent().unwrap()).unwrap();
    std::fs::copy(testkit::root().join(rollcall::vision::model::default_library()), &ort).unwrap();
    let config = dir.join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nonnxruntime = {:?}\n[models]\ndir = {:?}\n",
            ort.display().to_string(),
            models.display().to_string()
        ),
    )
    .unwrap();
    let fetch = || {
        let mut cmd = std::process::Command::new(testkit::rollcall_exe());
        cmd.arg("--config")
            .arg(&config)
            .args(["models", "fetch", "--shared"])
            .arg(testkit::root().join("../shared"))
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let work_folders = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.is_symlink())
            .collect()
    };
    let out = fetch().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing written through a planted name"
    );
    assert!(work_folders().is_empty(), "{:?}", work_folders());

    // Ctrl-C as soon as its folder exists, while the fetch script checks the models.
    let running = fetch().spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while work_folders().is_empty() {
        assert!(Instant::now() < deadline, "no work folder appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    let made = work_folders();
    assert_eq!(made.len(), 1);
    let name = made[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("rollcall-models-fetch-") && name.len() == "rollcall-models-fetch-".len() + 32,
        "{name}"
    );
    assert_eq!(unsafe { libc::kill(running.id() as libc::pid_t, libc::SIGINT) }, 0);
    let out = running.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("interrupted"), "{said}");
    assert!(
        work_folders().is_empty(),
        "the folder outlived Ctrl-C: {:?}",
        work_folders()
    );
    std::fs::remove_dir_all(dir).unwrap();
}
