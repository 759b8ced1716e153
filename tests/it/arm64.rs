//! The arm64 build, run under emulation: rollcall as `scripts/test-arm64.sh` installed it, with
//! apt, in a Debian 12 arm64 root that qemu runs. ONNX Runtime there is the aarch64 build from
//! PyPI, with NEON kernels where this machine's tests use AVX-512 ones.
//!
//! These tests run only inside that script, which makes the root and names it in
//! `ROLLCALL_ARM64_ROOT`; the photos are mounted at `/work/shared` in it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::parity::{Face, Fixture, MAX_PX};
use testkit::demo::{Running, lines_of};

/// The five students of the demo roster.
const STUDENTS: [&str; 5] = ["alex", "biden", "kit", "obama", "rose"];

/// Where `rollcall models fetch` put the models in the root (the packaged config's `[models] dir`).
const MODELS: &str = "/var/lib/rollcall-models";

fn root() -> PathBuf {
    let root = std::env::var_os("ROLLCALL_ARM64_ROOT").unwrap_or_else(|| {
        panic!("ROLLCALL_ARM64_ROOT is not set: run scripts/test-arm64.sh, which makes the emulated root these tests run in")
    });
    PathBuf::from(root)
}

/// `rollcall ARGS` inside the root, with the runtime `models fetch` put there.
fn rollcall_in_root(root: &Path, args: &[String]) -> Command {
    let runtime = format!(
        "{MODELS}/onnxruntime/{}",
        rollcall::vision::model::fetched_library_name()
    );
    let mut cmd = Command::new("chroot");
    cmd.arg(root)
        .arg("env")
        .arg(format!("ORT_DYLIB_PATH={runtime}"))
        .arg("rollcall")
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn run_ok(root: &Path, args: &[String]) -> String {
    let out = rollcall_in_root(root, args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rollcall {args:?} in the arm64 root: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Both parity fixtures through `rollcall embed --json` in the root, against the answers the
/// reference implementations gave on x86-64; and `rollcall detect` on a few of the photos, which
/// must find what `embed` found.
#[test]
#[ignore = "emulated arm64: only inside scripts/test-arm64.sh"]
fn the_arm64_build_gives_the_parity_answers_under_emulation() {
    let root = root();
    for name in ["yunet_sface.json", "scrfd_arcface.json"] {
        let fixture = Fixture::load(name);
        let photos: Vec<String> = fixture
            .photos()
            .iter()
            .map(|rel| format!("/work/shared/faces/{rel}"))
            .collect();
        let config = format!("/tmp/parity-{name}.toml");
        let (toml, args) = fixture.embed_command(&config, MODELS, &photos);
        std::fs::write(root.join(config.trim_start_matches('/')), &toml).unwrap();
        let started = Instant::now();
        let embedded = run_ok(&root, &args);
        let (px, cos) = fixture.check_embed_output(&embedded);
        println!(
            "arm64 {name}: {} photos in {:.0} s; worst {px:.5} px, cosine {cos:.6}",
            photos.len(),
            started.elapsed().as_secs_f64()
        );

        let few: Vec<String> = photos.iter().take(3).cloned().collect();
        let (_, args) = fixture.command("detect", &config, MODELS, &few);
        let detected = run_ok(&root, &args);
        let faces_of = |text: &str, photo: &str| -> Vec<Face> {
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|v| v["image"] == photo)
                .map(|v| v["faces"].as_array().unwrap().iter().map(Face::from_json).collect())
                .unwrap_or_else(|| panic!("{photo} missing from:\n{text}"))
        };
        for photo in &few {
            let (d, e) = (faces_of(&detected, photo), faces_of(&embedded, photo));
            assert_eq!(d.len(), e.len(), "{photo}: detect and embed found different faces");
            for (a, b) in d.iter().zip(&e) {
                let gap = a
                    .bbox
                    .iter()
                    .zip(&b.bbox)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0, f64::max);
                assert!(gap <= MAX_PX, "{photo}: detect's box is {gap} px from embed's");
            }
        }
    }
}

/// The demo as `scripts/demo.sh` runs it, in the root: its camera video made there with
/// `rollcall slideshow` (slowed to emulation's pace), its roster enrolled there, and the daemon
/// running until each of the five students is marked.
#[test]
#[ignore = "emulated arm64: only inside scripts/test-arm64.sh"]
fn the_demo_marks_five_of_five_under_emulation() {
    let root = root();
    let work = root.join("work/rollcall");
    std::fs::create_dir_all(work.join("config")).unwrap();
    std::fs::create_dir_all(work.join(".local/demo")).unwrap();
    for file in ["demo.toml", "demo-roster.csv", "demo-slides.txt"] {
        std::fs::copy(
            testkit::root().join("config").join(file),
            work.join("config").join(file),
        )
        .unwrap();
    }
    // The demo's `[models] dir` is the source tree's models/: here, what `models fetch` filled.
    let link = work.join("models");
    // Not `exists()`: that follows the link, whose target is the root's, not this machine's.
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(MODELS, &link).unwrap();
    }
    let s = |v: &str| v.to_string();
    let config = s("/work/rollcall/config/demo.toml");
    let demo = "/work/rollcall/.local/demo";
    let started = Instant::now();
    run_ok(&root, &[s("keygen"), s("--out"), format!("{demo}/rollcall.key")]);
    // The camera plays its video in real time, and emulated analysis takes seconds a frame:
    // at the demo's 2 s a photo, a student leaves the picture before a second frame of them
    // is analysed, and nobody is ever marked (seen: none in 9 minutes). A minute a photo (at 2
    // frames a second, to keep the encoding short) gives each several analysed frames.
    run_ok(
        &root,
        &[
            s("slideshow"),
            s("--list"),
            s("/work/rollcall/config/demo-slides.txt"),
            s("--seconds-each"),
            s("60"),
            s("--fps"),
            s("2"),
            s("--out"),
            format!("{demo}/classroom.webm"),
        ],
    );
    run_ok(
        &root,
        &[
            s("--config"),
            config.clone(),
            s("enroll"),
            s("--csv"),
            s("/work/rollcall/config/demo-roster.csv"),
        ],
    );
    println!(
        "arm64 demo: key, video and roster made in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    // What the daemon logs goes to a file in the root, for the message if it marks too few.
    let log = root.join("tmp/demo-run.log");
    let mut daemon = Running(
        rollcall_in_root(
            &root,
            &[s("--config"), config, s("--log"), s("warn"), s("run"), s("--json")],
        )
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap(),
    );
    let printed = lines_of(daemon.0.stdout.take().unwrap());
    let deadline = started + Duration::from_secs(40 * 60);
    let mut marked: Vec<String> = Vec::new();
    while marked.len() < STUDENTS.len() {
        let Ok(line) = printed.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            panic!(
                "after {:.0} s, only {marked:?} were marked; the daemon logged:\n{}",
                started.elapsed().as_secs_f64(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let decision: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(person) = decision["person_id"].as_str() {
            println!(
                "arm64 demo: {person} marked after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            marked.push(person.to_string());
        }
    }
    marked.sort();
    assert_eq!(marked, STUDENTS, "each student once, and no one else");
    println!(
        "arm64 demo: five of five in {:.0} s of the daemon's run",
        started.elapsed().as_secs_f64()
    );
}
