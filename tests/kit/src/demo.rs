//! The demo daemon for tests: `config/demo.toml` made to run in a scratch folder, and the
//! daemon as a child process.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The lines a child writes to `pipe`, as they come.
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The daemon as a child process, killed if the test fails before it is stopped.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `rollcall ARGS` and fails with its stderr if it fails.
pub fn rollcall_ok(args: &[&std::ffi::OsStr]) {
    let out = Command::new(super::rollcall_exe()).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `config/demo.toml` made to run in `dir`: the same cameras, timetable and device, with the
/// store, key and camera video in `dir` (made here as `scripts/demo.sh` makes them: the slideshow,
/// a key, the demo roster enrolled) and, given a broker port, MQTT to it.
pub fn demo_in(dir: &Path, broker: Option<u16>) -> PathBuf {
    demo_edited(dir, |config| {
        if let Some(port) = broker {
            let mqtt: toml::Table =
                format!("host = \"127.0.0.1\"\nport = {port}\nstatus_interval_s = 2\naccept_roster = false")
                    .parse()
                    .unwrap();
            config.insert("mqtt".into(), mqtt.into());
        }
    })
}

/// [`demo_in`], with `edit` applied to the config before it is written and used to enroll.
pub fn demo_edited(dir: &Path, edit: impl FnOnce(&mut toml::Table)) -> PathBuf {
    let demo = super::root().join("config");
    let text = std::fs::read_to_string(demo.join("demo.toml")).unwrap();
    let mut config: toml::Table = text.parse().unwrap();
    let absolute = |v: &toml::Value| toml::Value::from(demo.join(v.as_str().unwrap()).to_string_lossy().as_ref());
    let clip = dir.join("classroom.webm");
    let key = dir.join("key");
    let set = |config: &mut toml::Table, section: &str, key: &str, value: toml::Value| {
        config[section].as_table_mut().unwrap().insert(key.into(), value);
    };
    let models = absolute(&config["models"]["dir"]);
    set(&mut config, "models", "dir", models);
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        // The demo relies on the working directory being the repository's root.
        let ort = super::root().join(rollcall::vision::model::default_library());
        let mut runtime = toml::Table::new();
        runtime.insert("onnxruntime".into(), ort.to_string_lossy().as_ref().into());
        config.insert("runtime".into(), runtime.into());
    }
    set(
        &mut config,
        "store",
        "path",
        dir.join("rollcall.db").to_string_lossy().as_ref().into(),
    );
    set(&mut config, "store", "key_file", key.to_string_lossy().as_ref().into());
    let cameras = config["cameras"].as_array_mut().unwrap();
    assert_eq!(cameras.len(), 1, "the demo has one camera");
    cameras[0]
        .as_table_mut()
        .unwrap()
        .insert("uri".into(), clip.to_string_lossy().as_ref().into());
    edit(&mut config);
    let path = dir.join("rollcall.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();

    let list = demo.join("demo-slides.txt");
    rollcall_ok(&[
        "slideshow".as_ref(),
        "--list".as_ref(),
        list.as_os_str(),
        "--out".as_ref(),
        clip.as_os_str(),
    ]);
    rollcall_ok(&["keygen".as_ref(), "--out".as_ref(), key.as_os_str()]);
    let roster = demo.join("demo-roster.csv");
    rollcall_ok(&[
        "--config".as_ref(),
        path.as_os_str(),
        "enroll".as_ref(),
        "--csv".as_ref(),
        roster.as_os_str(),
    ]);
    path
}
