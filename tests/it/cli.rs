//! The command line as a user meets it: real photos in, tables and JSON out, and a clear
//! message with a non-zero exit for every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rollcall(args: &[&str]) -> Output {
    rollcall_env(args, &[])
}

fn rollcall_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    cmd.current_dir(testkit::root())
        .args(args)
        .env_remove("ROLLCALL_CONFIG")
        .env_remove("JOURNAL_STREAM");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn photo(rel: &str) -> String {
    testkit::face(rel).to_string_lossy().into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rollcall-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn detect_json_reports_every_face() {
    let o = rollcall(&["detect", "--json", &photo("insightface_t1_group.jpg")]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let faces = v["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 6);
    for f in faces {
        assert!(f["quality"]["score"].as_f64().unwrap() > 0.0);
        assert!(f["liveness"]["score"].as_f64().is_some());
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
    }
}

#[test]
fn detect_names_known_people_and_leaves_strangers_unknown() {
    let known = scratch("known");
    for f in ["obama_1.jpg", "biden_1.jpg"] {
        std::fs::copy(testkit::face(&format!("ageitgey/identities/{f}")), known.join(f)).unwrap();
    }
    for (det, rec) in testkit::PAIRS {
        let o = rollcall(&[
            "detect",
            "--detector",
            det,
            "--recognizer",
            rec,
            "--known",
            &known.to_string_lossy(),
            &photo("ageitgey/group/obama_and_biden.jpg"),
            &photo("ageitgey/identities/kit_1.jpg"),
        ]);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{err}");
        let (group, kit) = out.split_once("kit_1.jpg").unwrap();
        assert!(group.contains("obama (") && group.contains("biden ("), "{det}: {out}");
        assert!(
            kit.contains("unknown (") && !kit.contains("obama (") && !kit.contains("biden ("),
            "{det}: {out}"
        );
    }
    std::fs::remove_dir_all(known).unwrap();
}

#[test]
fn compare_gives_the_verdict_at_the_threshold() {
    let same = rollcall(&[
        "compare",
        &photo("ageitgey/identities/obama_1.jpg"),
        &photo("ageitgey/identities/obama_2.jpg"),
    ]);
    assert!(text(&same).0.contains("same person"), "{:?}", text(&same));
    let diff = rollcall(&[
        "compare",
        &photo("ageitgey/identities/obama_1.jpg"),
        &photo("ageitgey/identities/biden_1.jpg"),
    ]);
    assert!(text(&diff).0.contains("different people"), "{:?}", text(&diff));
}

/// A reader that goes away (`rollcall embed --json PHOTO... | head -c 1`) ends the output, not
/// the command: it finishes its photos and exits 0. std's println! panicked there ("failed
/// printing to stdout: Broken pipe", exit 101), and on a full disk too.
#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .current_dir(testkit::root())
        .args(["embed", "--json"])
        .args([photo("vectron/yaoming.jpg"), photo("ageitgey/identities/obama_1.jpg")])
        .env_remove("ROLLCALL_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Gone before the models have loaded, so every line meets a closed pipe.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.status.success(), "exit {:?}: {err}", o.status.code());

    // Output somebody asked for and lost (a full disk under a redirect) is said, and fails.
    let o = Command::new(env!("CARGO_BIN_EXE_rollcall"))
        .current_dir(testkit::root())
        .args(["embed", "--json", &photo("vectron/yaoming.jpg")])
        .env_remove("ROLLCALL_CONFIG")
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("standard output failed (No space left on device"), "{err}");
}

#[test]
fn embed_json_carries_the_recognizer_id_and_a_unit_vector() {
    let o = rollcall(&[
        "embed",
        "--json",
        "--recognizer",
        "arcface-w600k-mbf",
        "--detector",
        "scrfd-500m",
        &photo("vectron/yaoming.jpg"),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let f = &v["faces"][0];
    assert_eq!(f["recognizer"], "arcface-w600k-mbf");
    let e: Vec<f64> = f["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(e.len(), 512);
    assert!((e.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-3);
}

#[test]
fn annotate_writes_a_picture_of_the_same_size() {
    let dir = scratch("annotate");
    let out = dir.join("out.jpg");
    let o = rollcall(&[
        "detect",
        "--annotate",
        &out.to_string_lossy(),
        &photo("ageitgey/group/two_people.jpg"),
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let a = rollcall::capture::image::load(&out, u64::MAX).unwrap();
    let b = rollcall::capture::image::load(&testkit::face("ageitgey/group/two_people.jpg"), u64::MAX).unwrap();
    use opencv::prelude::*;
    assert_eq!((a.cols(), a.rows()), (b.cols(), b.rows()));
    std::fs::remove_dir_all(dir).unwrap();
}

fn fails_with(args: &[&str], env: &[(&str, &str)], needle: &str) {
    let o = rollcall_env(args, env);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_inputs_give_a_clear_message_and_exit_1() {
    let dir = scratch("bad");
    let missing = dir.join("missing.jpg");
    fails_with(&["detect", &missing.to_string_lossy()], &[], "cannot read");
    let text_file = dir.join("notes.jpg");
    std::fs::write(&text_file, "hello").unwrap();
    fails_with(&["detect", &text_file.to_string_lossy()], &[], "is not an image");
    // A real PNG with no face in it: a flat grey picture.
    let blank = dir.join("blank.png");
    let grey = opencv::core::Mat::new_rows_cols_with_default(
        480,
        640,
        opencv::core::CV_8UC3,
        opencv::core::Scalar::all(128.0),
    )
    .unwrap();
    assert!(opencv::imgcodecs::imwrite(&*blank.to_string_lossy(), &grey, &opencv::core::Vector::new()).unwrap());
    fails_with(&["detect", &blank.to_string_lossy()], &[], "no face found");
    fails_with(
        &["compare", &blank.to_string_lossy(), &photo("vectron/yaoming.jpg")],
        &[],
        "no face found",
    );
    // A PNG header announcing 100000 x 100000 pixels.
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend_from_slice(b"IHDR");
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&100_000u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let huge = dir.join("huge.png");
    std::fs::write(&huge, png).unwrap();
    fails_with(&["detect", &huge.to_string_lossy()], &[], "above the limit");
    // Several photos: every one is tried, the bad ones are named, the exit is non-zero.
    fails_with(
        &["detect", &photo("vectron/yaoming.jpg"), &missing.to_string_lossy()],
        &[],
        "1 of 2 photos failed",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_or_wrong_onnx_runtime_is_a_clear_error() {
    let img = photo("vectron/yaoming.jpg");
    fails_with(
        &["detect", &img],
        &[("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")],
        "ONNX Runtime library not found at /nonexistent",
    );
    let libz = Path::new("/usr/lib")
        .join(format!("{}-linux-gnu", std::env::consts::ARCH))
        .join("libz.so.1");
    fails_with(
        &["detect", &img],
        &[("ORT_DYLIB_PATH", &libz.to_string_lossy())],
        "does not export `OrtGetApiBase`",
    );
    let old = testkit::root().join(".local/onnxruntime-too-old/libonnxruntime.so.1.16.3");
    assert!(
        old.exists(),
        "run scripts/setup.sh --test-extras (scripts/test.sh does)"
    );
    fails_with(
        &["detect", &img],
        &[("ORT_DYLIB_PATH", &old.to_string_lossy())],
        "expected version >= '1.17.x', but got '1.16.3'",
    );
}

#[test]
fn a_bad_config_names_the_file_the_key_and_the_line() {
    let dir = scratch("config");
    let cfg = dir.join("rollcall.toml");
    std::fs::write(&cfg, "[detect]\nmin_face_px = 20\nscore_treshold = 0.5\n").unwrap();
    fails_with(
        &[
            "--config",
            &cfg.to_string_lossy(),
            "detect",
            &photo("vectron/yaoming.jpg"),
        ],
        &[],
        "line 3",
    );
    fails_with(
        &[
            "--config",
            &cfg.to_string_lossy(),
            "detect",
            &photo("vectron/yaoming.jpg"),
        ],
        &[],
        "score_treshold",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_prints_stage_figures() {
    let dir = scratch("bench");
    std::fs::copy(testkit::face("vectron/yaoming.jpg"), dir.join("a.jpg")).unwrap();
    let o = rollcall(&["bench", "--rounds", "1", &dir.to_string_lossy()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for needle in [
        "detect",
        "embed",
        "anti-spoof",
        "total (excluding decode)",
        "pure model time",
        "total / pure model time",
        // The fetched runtime is one whose PReLU is rewritten, which moves the figures.
        "; PReLU rewritten for it",
    ] {
        assert!(out.contains(needle), "{needle} missing from:\n{out}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn logs_are_json_under_the_journal_and_text_on_a_terminal() {
    let obama = photo("ageitgey/identities/obama_1.jpg");
    let args = ["--log", "debug", "detect", obama.as_str()];
    // systemd sets JOURNAL_STREAM for a service whose output goes to the journal.
    let (_, journal) = text(&rollcall_env(&args, &[("JOURNAL_STREAM", "8:12345")]));
    let lines: Vec<&str> = journal.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    let (_, terminal) = text(&rollcall(&args));
    assert!(
        terminal.contains("ONNX Runtime loaded") && !terminal.trim_start().starts_with('{'),
        "{terminal}"
    );
}

#[test]
fn check_config_lists_every_problem_with_where_it_is() {
    let dir = scratch("check-config");
    let check = |name: &str, text: &str| {
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let out = rollcall(&["check-config", file.to_str().unwrap()]);
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let models = format!("[models]\ndir = {:?}\n", testkit::root().join("models"));

    let (ok, text) = check("typo.toml", &format!("{models}[detect]\nscore_treshold = 0.5\n"));
    assert!(
        !ok && text.contains("line 4, column 1") && text.contains("score_treshold"),
        "{text}"
    );
    let (ok, text) = check("type.toml", &format!("{models}[track]\nbest_frames = \"five\"\n"));
    assert!(
        !ok && text.contains("line 4") && text.contains("invalid type"),
        "{text}"
    );

    let broken = format!(
        "{models}[detect]\nscore_threshold = 1.5\n[liveness]\nthreshold = 2.0\n[store]\nkey_file = \"no-such.key\"\n\
         [[cameras]]\nid = \"front\"\nkind = \"v4l2\"\ndevice = \"/dev/video0\"\n\
         [[cameras]]\nid = \"front\"\nkind = \"v4l2\"\ndevice = \"/dev/video1\"\n\
         [[timetable.sessions]]\nid = \"MATHS\"\nroom = \"101\"\ndays = [\"mon\"]\nstart = \"09:00\"\nend = \"10:00\"\n\
         [[timetable.sessions]]\nid = \"ART\"\nroom = \"101\"\ndays = [\"mon\"]\nstart = \"09:30\"\nend = \"10:30\"\n"
    );
    let (ok, text) = check("broken.toml", &broken);
    assert!(!ok);
    let file = dir.join("broken.toml").display().to_string();
    for expected in [
        format!("{file}:4:1: [detect] score_threshold: 1.5 must be between 0 and 1"),
        format!("{file}:6:1: [liveness] threshold: 2 must be between 0 and 1"),
        format!(
            "{file}:8:1: [store] key_file: {}/no-such.key does not exist",
            dir.display()
        ),
        format!("{file}:14:1: camera `front`: another camera has the same id"),
        format!("{file}:24:1: [timetable] sessions `MATHS` and `ART` overlap in room 101"),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    assert_eq!(text.lines().count(), 5, "one line per problem, no more:\n{text}");
    // `run` checks the same first, and starts nothing.
    let out = rollcall(&["--config", &file, "run"]);
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{refused}");
    for line in text.lines() {
        assert!(refused.contains(line), "{line:?} not in:\n{refused}");
    }

    // Unknown models and the files an MQTT link needs.
    let (ok, text) = check(
        "mqtt.toml",
        &format!(
            "{models}detector = \"yolo-face\"\n[mqtt]\nhost = \"broker.school.example\"\nusername = \"room-101\"\n\
             password_file = \"mqtt.pass\"\n[mqtt.tls]\nca_file = \"school-ca.pem\"\n"
        ),
    );
    let file = dir.join("mqtt.toml").display().to_string();
    assert!(!ok);
    for expected in [
        format!("{file}:3:1: [models] detector: unknown model `yolo-face`; known models: arcface-w600k-mbf"),
        format!(
            "{file}:7:1: [mqtt] password_file: {}/mqtt.pass does not exist",
            dir.display()
        ),
        format!(
            "{file}:9:1: [mqtt.tls] ca_file: {}/school-ca.pem does not exist",
            dir.display()
        ),
    ] {
        assert!(text.contains(&expected), "{expected:?} not in:\n{text}");
    }
    assert_eq!(text.lines().count(), 3, "one line per problem, no more:\n{text}");

    let (ok, text) = check(
        "good.toml",
        &format!("{models}[[cameras]]\nid = \"a\"\nkind = \"v4l2\"\ndevice = \"/dev/video0\"\n"),
    );
    assert!(
        ok && text.contains("OK (1 camera(s), 0 session(s), MQTT off)"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn eval_reports_each_track_and_who_was_marked_when() {
    let clip = testkit::shared().join("videos/short_hamilton_clip.mp4");
    let clip = clip.to_string_lossy();
    let o = rollcall(&["eval", &clip, "--roster", "config/demo-roster.csv"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("track  seen(s)  frames  face(px)  verdict"), "{out}");
    let marked = out.lines().find(|l| l.contains("people marked")).unwrap_or_default();
    assert!(marked.contains("0 spoof alerts"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("obama") && l.contains("marked at")),
        "Obama is in the clip and enrolled: {out}"
    );
    assert!(out.contains("recognizer runs:"), "{out}");

    let dir = scratch("eval");
    let empty = dir.join("roster.csv");
    std::fs::write(&empty, "id,name,path\nghost,Ghost,missing.jpg\n").unwrap();
    fails_with(
        &["eval", &clip, "--roster", &empty.to_string_lossy()],
        &[],
        "could be enrolled",
    );
    fails_with(
        &["eval", &clip, "--roster", "config/demo-roster.csv", "--fps", "0"],
        &[],
        "--fps 0 is not between",
    );
    fails_with(
        &[
            "eval",
            &dir.join("gone.mp4").to_string_lossy(),
            "--roster",
            "config/demo-roster.csv",
        ],
        &[],
        "cannot read",
    );
    let not_video = dir.join("notes.mp4");
    std::fs::write(&not_video, "hello").unwrap();
    fails_with(
        &[
            "eval",
            &not_video.to_string_lossy(),
            "--roster",
            "config/demo-roster.csv",
        ],
        &[],
        "decoding stopped after 0 frames",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bench_says_where_each_model_runs_and_a_lacking_gpu_provider_once() {
    let dir = scratch("providers");
    std::fs::copy(testkit::face("vectron/yaoming.jpg"), dir.join("a.jpg")).unwrap();
    let config = dir.join("gpu.toml");
    let write = |providers: &str, strict: bool| {
        let text = format!(
            "[runtime]\nproviders = {providers}\nstrict = {strict}\n[models]\ndir = {:?}\n[store]\npath = {:?}\n",
            testkit::root().join("models").to_string_lossy(),
            dir.join("rollcall.db").to_string_lossy()
        );
        std::fs::write(&config, text).unwrap();
    };
    let bench = || {
        let o = rollcall(&[
            "--config",
            &config.to_string_lossy(),
            "bench",
            "--rounds",
            "1",
            &dir.join("a.jpg").to_string_lossy(),
        ]);
        let (out, err) = text(&o);
        (o.status.success(), out, err)
    };
    let on_cpu = "models: yunet-s fp32 on cpu, sface-2021dec fp32 on cpu, minifasnet-v2 fp32 on cpu, minifasnet-v1se fp32 on cpu; this ONNX Runtime has cpu";

    // This machine's ONNX Runtime is the CPU wheel: the GPU providers are asked for and lacking.
    write(r#"["tensorrt", "cuda", "cpu"]"#, false);
    let (ok, out, err) = bench();
    assert!(ok, "{err}");
    assert!(out.contains(on_cpu), "{out}");
    // Not with a GPU provider listed: the rewrite was measured on the CPU's kernels only.
    assert!(out.contains("; PReLU as each file has it"), "{out}");
    assert_eq!(
        err.matches("[runtime] providers: tensorrt and cuda are not in the ONNX Runtime")
            .count(),
        1,
        "said once for the four models: {err}"
    );
    assert!(err.contains("the models run on cpu instead"), "{err}");

    write(r#"["tensorrt", "cuda", "cpu"]"#, true);
    let (ok, _, err) = bench();
    assert!(!ok);
    assert!(
        err.contains("execution provider tensorrt is unusable: it is not in the ONNX Runtime")
            && err.contains("strict = true forbids falling back"),
        "{err}"
    );

    write(r#"["cpu"]"#, true);
    let (ok, out, err) = bench();
    assert!(ok, "{err}");
    assert!(
        out.contains(on_cpu) && !err.contains("not in the ONNX Runtime"),
        "{out}{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_quantized_build_does_not_depend_on_the_other_models_quantized_with_it() {
    let dir = scratch("quantize");
    let (models, config) = testkit::quantize_workspace(&dir, "");
    let photos = dir.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rel) in [
        "silent_face_samples/image_F1.jpg",
        "silent_face_samples/image_T1.jpg",
        "vectron/players.jpg",
        "vectron/yaoming.jpg",
    ]
    .iter()
    .enumerate()
    {
        std::fs::copy(testkit::face(rel), photos.join(format!("{i}.jpg"))).unwrap();
    }
    let spec = rollcall::config::Catalogue::builtin()
        .iter()
        .find(|s| s.name == "minifasnet-v2")
        .cloned()
        .unwrap();
    let python = testkit::root().join(".local/quantize-venv/bin/python");
    let build = |with: &[&str]| {
        let mut args = vec![
            "--config".to_string(),
            config.to_string_lossy().into_owned(),
            "models".into(),
            "quantize".into(),
            photos.to_string_lossy().into_owned(),
            "--python".into(),
            python.to_string_lossy().into_owned(),
        ];
        for model in with {
            args.extend(["--model".to_string(), model.to_string()]);
        }
        let o = rollcall(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        assert!(out.contains("minifasnet-v2: built (sha256"), "{out}");
        std::fs::read(models.join(spec.int8_file())).unwrap()
    };

    // The anti-spoofing crops come from the config's own detector (YuNet) however the
    // detectors asked for alongside are ordered; they once came from the first of those.
    let alone = build(&["minifasnet-v2"]);
    let beside_scrfd = build(&["minifasnet-v2", "scrfd-500m"]);
    assert!(
        alone == beside_scrfd,
        "minifasnet-v2's build changed when scrfd-500m was quantized with it"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn quantize_refuses_a_model_the_catalogue_does_not_quantize_and_says_why() {
    for (model, why) in [
        ("yunet-2023mar", "quantize = false"),
        ("landmarks-2d106", "landmark models never are"),
    ] {
        let o = rollcall(&["models", "quantize", "--model", model]);
        let (out, err) = text(&o);
        assert!(!o.status.success(), "{out}{err}");
        assert!(
            err.contains(&format!("--model {model}: not quantized")) && err.contains(why),
            "{err}"
        );
    }
}

/// The names `rollcall [COMMAND] --help` lists under "Commands:", but `help`.
fn commands_listed(args: &[&str]) -> Vec<String> {
    let o = rollcall(&[args, &["--help"]].concat());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{args:?} --help: {err}");
    out.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect()
}

#[test]
fn the_readme_lists_every_command_and_subcommand() {
    let readme = std::fs::read_to_string(testkit::root().join("README.md")).unwrap();
    let commands = commands_listed(&[]);
    assert!(commands.len() > 10, "{commands:?}");
    let mut missing = Vec::new();
    for command in &commands {
        let subcommands = commands_listed(&[command]);
        if subcommands.is_empty() {
            note_unless_listed(&readme, &format!("rollcall {command}"), &mut missing);
        }
        for sub in subcommands {
            note_unless_listed(&readme, &format!("rollcall {command} {sub}"), &mut missing);
        }
    }
    assert!(missing.is_empty(), "README.md's command list lacks {missing:?}");
}

/// Records `usage` as missing unless the README's command list shows it (as `rollcall roster
/// list | remove ID` shows `rollcall roster remove`, say).
fn note_unless_listed(readme: &str, usage: &str, missing: &mut Vec<String>) {
    let (head, last) = usage.rsplit_once(' ').unwrap_or((usage, ""));
    let shown = readme.lines().any(|l| {
        l.starts_with(usage)
            || (l.starts_with(head)
                && l.split('#')
                    .next()
                    .unwrap_or("")
                    .split(" | ")
                    .any(|alt| alt.starts_with(last)))
    });
    if !shown {
        missing.push(usage.to_string());
    }
}

#[test]
fn precision_takes_only_the_names_the_config_takes() {
    let o = rollcall(&["detect", "--precision", "int9", &photo("vectron/yaoming.jpg")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value 'int9'") && err.contains("[possible values: auto, int8, fp32]"),
        "{err}"
    );
    let o = rollcall(&["detect", "--precision", "fp32", &photo("vectron/yaoming.jpg")]);
    assert!(o.status.success(), "{}", text(&o).1);
}
