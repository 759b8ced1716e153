//! Configuration: one TOML file, one section per concern, every key with a documented default.
//!
//! Relative paths in a file are taken relative to that file's directory, so a config can name
//! `../models` and work wherever it is started from.
//!
//! One file per section, each with its defaults and its own value checks (`problems`): runtime,
//! models (with the catalogue of model descriptions, `models/manifest.toml` in the same schema
//! as `[[models.custom]]`), detect, recognize, track, liveness, images, cameras, timetable,
//! store, device, enroll and mqtt. [`locate`](examine) places every problem at its line and
//! column.
//!
//! Config is the bottom layer: it imports nothing of rollcall's but `untrusted`, so every other
//! part may read it. Checks that need another part's logic live here as plain data checks (the
//! timetable's slots, the model names) rather than calling up into that part.

mod advice;
mod camera;
mod detect;
mod device;
mod diff;
mod enroll;
mod images;
mod liveness;
mod locate;
mod metrics;
mod models;
mod mqtt;
mod recognize;
mod runtime;
mod store;
mod timetable;
mod track;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use advice::warnings;
pub use camera::{CameraConfig, Decode, PixelFormat, SourceKind, Transport};
pub use detect::DetectConfig;
pub use device::{DeviceConfig, MAX_ID_BYTES, check_id};
pub use diff::{AUDITED_SECTIONS, changed_settings};
pub use enroll::{EnrollConfig, Pose};
pub use images::{DEFAULT_MAX_PIXELS, ImagesConfig};
pub use liveness::{DEFAULT_LIVE_THRESHOLD, LivenessConfig, Unassessed};
pub use locate::{Depth, Finding, examine, render};
pub use metrics::MetricsConfig;
pub use models::{
    AntispoofSpec, BUILTIN_MANIFEST, Catalogue, CatalogueError, ChannelOrder, DetectorSpec, InputSpec, Int8Spec,
    ModelFamily, ModelKind, ModelSpec, ModelsConfig, Precision, RecognizerSpec, fetched_onnxruntime_version,
    pinned_onnxruntime_sha256,
};
pub use mqtt::{MqttConfig, OutboxConfig, TlsConfig};
pub use recognize::{PersonScore, RecognizeConfig};
pub use runtime::{PreluRewrite, Provider, RuntimeConfig};
pub use store::StoreConfig;
pub use timetable::{OutsideSessions, SessionSlot, TimetableConfig, TimetableError, WeeklySlot};
pub use track::TrackConfig;

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    /// The TOML is malformed, or has unknown keys or wrong types (the message has line and column).
    #[error("config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// A value is out of range.
    #[error("config {path}: [{section}] {key}: {problem}")]
    BadValue {
        path: PathBuf,
        section: &'static str,
        key: &'static str,
        problem: String,
    },
    /// The timetable is inconsistent.
    #[error("config {path}: {source}")]
    Timetable { path: PathBuf, source: TimetableError },
    /// A camera entry is incomplete or contradictory.
    #[error("config {path}: camera `{id}`: {problem}")]
    Camera { path: PathBuf, id: String, problem: String },
    /// Every problem of a file, each at its line and column.
    #[error("{} problem(s) in {}:\n{}", found.len(), path.display(), render(path, found))]
    Problems { path: PathBuf, found: Vec<Finding> },
}

/// `seconds` as a duration, whatever the number: negative and NaN are zero, too large is the
/// longest duration. Config checks refuse such values first; this keeps a slip from panicking.
pub fn duration_s(seconds: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(std::time::Duration::MAX)
}

/// One thing wrong with a config value, as every section reports it (each section's
/// `problems()`): the section and key let `check-config` point at the line, and the message says
/// what is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    /// The TOML table, e.g. `detect` or `mqtt`; `cameras` for a camera entry.
    pub section: &'static str,
    /// The key within it, e.g. `score_threshold` or `outbox.max_age_days`.
    pub key: &'static str,
    /// What is wrong, and the fix.
    pub message: String,
}

impl Problem {
    /// A problem with `key` of `section`.
    pub fn new(section: &'static str, key: &'static str, message: impl Into<String>) -> Problem {
        Problem {
            section,
            key,
            message: message.into(),
        }
    }
}

/// Splits `user:password@` out of a URL: the URL without it, and the credentials.
pub fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    // The credentials end at the last `@` before the host, even when the password holds a `/`
    // (which should be %-encoded, but is often typed as is); an `@` in the path only makes this
    // cut too much, never leave a password in.
    let host_start = rest.rfind('@').map_or(0, |at| at + 1);
    let path_start = rest[host_start..].find('/').map_or(rest.len(), |i| host_start + i);
    let (authority, path) = rest.split_at(path_start);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (
                format!("{scheme}://{host}{path}"),
                Some((user.to_string(), pass.to_string())),
            )
        }
        None => (url.to_string(), None),
    }
}

/// `url` with any user name and password replaced by `***`, for logs and messages.
pub fn redact_url(url: &str) -> String {
    match split_credentials(url) {
        (bare, Some(_)) => bare.replacen("://", "://***@", 1),
        (bare, None) => bare,
    }
}

/// GStreamer properties whose values are secrets (rtspsrc's and souphttpsrc's).
const SECRET_PROPERTIES: [&str; 4] = ["user-id", "user-pw", "proxy-id", "proxy-pw"];

/// `text` (a pipeline description, or an error that quotes one) with the credentials a camera's
/// location can carry replaced by `***`: the user and password of every URL in it, and the
/// values of [`SECRET_PROPERTIES`]. A `uri` or `pipeline` camera is written by an admin, who may
/// put a password in it; the log and the status must not repeat it.
pub fn redact_text(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|piece| {
            let word = piece.trim_end();
            format!("{}{}", redact_word(word), &piece[word.len()..])
        })
        .collect()
}

/// One whitespace-free word of [`redact_text`].
fn redact_word(word: &str) -> String {
    for key in SECRET_PROPERTIES {
        if word.strip_prefix(key).is_some_and(|rest| rest.starts_with('=')) {
            return format!("{key}=***");
        }
    }
    let Some(at) = word.find("://") else {
        return word.to_string();
    };
    // The URL starts after a quote or a property's `=`, and ends at a closing quote.
    let start = word[..at].rfind(['"', '\'', '=']).map_or(0, |i| i + 1);
    let end = word[at..].find(['"', '\'']).map_or(word.len(), |i| at + i);
    format!("{}{}{}", &word[..start], redact_url(&word[start..end]), &word[end..])
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// ONNX Runtime.
    pub runtime: RuntimeConfig,
    /// Models.
    pub models: ModelsConfig,
    /// Detection.
    pub detect: DetectConfig,
    /// Recognition.
    pub recognize: RecognizeConfig,
    /// Tracking.
    pub track: TrackConfig,
    /// Anti-spoofing.
    pub liveness: LivenessConfig,
    /// Photo limits.
    pub images: ImagesConfig,
    /// Cameras.
    pub cameras: Vec<CameraConfig>,
    /// Class sessions.
    pub timetable: TimetableConfig,
    /// Local database.
    pub store: StoreConfig,
    /// This box's identity.
    pub device: DeviceConfig,
    /// Live enrollment at a camera.
    pub enroll: EnrollConfig,
    /// The backend's broker; no MQTT when absent.
    pub mqtt: Option<MqttConfig>,
    /// The Prometheus and health endpoint; none when absent.
    pub metrics: Option<MetricsConfig>,
}

/// Whether `v` is a share or a probability.
fn in_unit_range(v: f32) -> bool {
    (0.0..=1.0).contains(&v)
}

/// What [`in_unit_range`] refuses, said to the admin.
const UNIT: &str = "must be between 0 and 1";

/// A number outside `min..=max` (or not a number at all): NaN, infinity and out-of-range values
/// would panic or silently misbehave far from the config.
fn out_of_range(section: &'static str, key: &'static str, v: f64, min: f64, max: f64) -> Option<Problem> {
    (!(v.is_finite() && (min..=max).contains(&v)))
        .then(|| Problem::new(section, key, format!("{v} must be a number from {min} to {max}")))
}

impl Config {
    /// What a recognised face without a liveness verdict gets on `camera`: the camera's own
    /// setting, or `[liveness] unassessed`.
    pub fn unassessed_for(&self, camera: &str) -> Unassessed {
        self.cameras
            .iter()
            .find(|c| c.id == camera)
            .and_then(|c| c.unassessed)
            .unwrap_or(self.liveness.unassessed)
    }

    /// Reads, parses and checks the values of a config file; every problem is reported, each
    /// with its line and column.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        locate::load(path, Depth::Values)
    }

    /// As [`Config::load`], and also the model names and every file the config names: what the
    /// daemon checks before it starts, and before it takes a reloaded config.
    pub fn load_to_run(path: &Path) -> Result<Config, ConfigError> {
        locate::load(path, Depth::Everything)
    }

    /// Parses and checks config text; `path` names it in errors and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config = Config::parse_unchecked(text, path)?;
        config.check(path)?;
        Ok(config)
    }

    /// Parses config text (syntax, keys, types) and anchors relative paths, without checking
    /// values: `check-config` then lists every problem, not only the first.
    pub fn parse_unchecked(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_paths(base);
        Ok(config)
    }

    /// Files the config names that do not exist: (section, key, path). Models are looked up in
    /// `[models] dir` by their description.
    pub fn missing_files(&self) -> Vec<(&'static str, &'static str, PathBuf)> {
        let mut named: Vec<(&'static str, &'static str, PathBuf)> = Vec::new();
        if let Ok(catalogue) = Catalogue::builtin().with(&self.models.custom) {
            let models = [&self.models.detector, &self.models.recognizer]
                .into_iter()
                .chain(&self.models.antispoof)
                .chain(&self.models.landmarks);
            for name in models {
                if let Some(spec) = catalogue.iter().find(|s| s.name == *name) {
                    named.push(("models", "dir", self.models.dir.join(&spec.file)));
                }
            }
        }
        if let Some(p) = &self.runtime.onnxruntime {
            named.push(("runtime", "onnxruntime", p.clone()));
        }
        if let Some(p) = &self.store.key_file {
            named.push(("store", "key_file", p.clone()));
        }
        if let Some(p) = &self.device.key_file {
            named.push(("device", "key_file", p.clone()));
        }
        if let Some(m) = &self.mqtt {
            let site_key = m.roster_key_file.as_ref().filter(|_| m.allow_site_key_rosters);
            for (key, p) in [
                ("password_file", m.password_file.as_ref()),
                ("roster_key_file", site_key),
            ] {
                if let Some(p) = p {
                    named.push(("mqtt", key, p.clone()));
                }
            }
            if let Some(tls) = &m.tls {
                named.push(("mqtt.tls", "ca_file", tls.ca_file.clone()));
                for (key, p) in [("client_cert", &tls.client_cert), ("client_key", &tls.client_key)] {
                    if let Some(p) = p {
                        named.push(("mqtt.tls", key, p.clone()));
                    }
                }
            }
        }
        for cam in &self.cameras {
            if let Some(p) = &cam.password_file {
                named.push(("cameras", "password_file", p.clone()));
            }
        }
        named.into_iter().filter(|(_, _, p)| !p.exists()).collect()
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.models.dir);
        fix(&mut self.store.path);
        for p in [self.store.key_file.as_mut(), self.device.key_file.as_mut()]
            .into_iter()
            .flatten()
        {
            fix(p);
        }
        if let Some(p) = self.runtime.onnxruntime.as_mut() {
            fix(p);
        }
        if let Some(p) = self.runtime.tensorrt_engine_cache.as_mut() {
            fix(p);
        }
        if let Some(m) = self.mqtt.as_mut() {
            for p in [m.password_file.as_mut(), m.roster_key_file.as_mut()]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
            if let Some(tls) = m.tls.as_mut() {
                fix(&mut tls.ca_file);
                for p in [tls.client_cert.as_mut(), tls.client_key.as_mut()]
                    .into_iter()
                    .flatten()
                {
                    fix(p);
                }
            }
        }
        for cam in &mut self.cameras {
            if let Some(p) = cam.password_file.as_mut() {
                fix(p);
            }
            // A plain path in `uri` is a file relative to the config, like every other path.
            if let Some(u) = cam.uri.as_mut()
                && !u.contains("://")
            {
                let mut p = PathBuf::from(&*u);
                fix(&mut p);
                *u = p.to_string_lossy().into_owned();
            }
        }
    }

    /// Checks value ranges; `path` names the file in errors. The first problem, if any.
    pub fn check(&self, path: &Path) -> Result<(), ConfigError> {
        match self.problems(path).into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every value problem, not only the first (for `check-config`), section by section in the
    /// order of the example file.
    pub fn problems(&self, path: &Path) -> Vec<ConfigError> {
        let bad = |p: Problem| ConfigError::BadValue {
            path: path.to_path_buf(),
            section: p.section,
            key: p.key,
            problem: p.message,
        };
        let mut problems: Vec<ConfigError> = [
            self.runtime.problems(),
            self.detect.problems(),
            self.recognize.problems(),
            self.track.problems(),
            self.liveness.problems(),
            self.images.problems(),
            self.enroll.problems(),
            self.device.problems(),
            self.store.problems(),
            self.mqtt.as_ref().map(MqttConfig::problems).unwrap_or_default(),
        ]
        .into_iter()
        .flatten()
        .map(bad)
        .collect();
        if let Err(source) = self.timetable.check() {
            problems.push(ConfigError::Timetable {
                path: path.to_path_buf(),
                source,
            });
        }
        problems.extend(self.camera_problems(path));
        problems
    }

    /// Each camera's own checks, and ids that repeat.
    fn camera_problems(&self, path: &Path) -> Vec<ConfigError> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for cam in &self.cameras {
            problems.extend(cam.problems().into_iter().map(|p| ConfigError::Camera {
                path: path.to_path_buf(),
                id: cam.id.clone(),
                problem: p.message,
            }));
            if !seen.insert(cam.id.as_str()) {
                problems.push(ConfigError::Camera {
                    path: path.to_path_buf(),
                    id: cam.id.clone(),
                    problem: "another camera has the same id; ids must be unique".into(),
                });
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_pipeline_or_an_error_are_hidden() {
        let pipeline = "uridecodebin uri=\"rtsp://admin:pa55@10.0.0.9/live\" ! videoconvert ! \
                        rtspsrc location=rtsp://cam/x user-id=admin user-pw=pa55 ! fakesink";
        let shown = redact_text(pipeline);
        assert!(!shown.contains("pa55") && !shown.contains("admin"), "{shown}");
        assert!(shown.contains("uri=\"rtsp://***@10.0.0.9/live\""), "{shown}");
        assert!(shown.contains("user-pw=*** ! fakesink"), "{shown}");
        let error = "source: Could not open resource for reading (rtsp://u:secret@host:554/a)";
        assert!(!redact_text(error).contains("secret"), "{}", redact_text(error));
        assert_eq!(redact_text("videotestsrc ! fakesink"), "videotestsrc ! fakesink");
    }

    #[test]
    fn an_empty_file_gives_the_defaults_and_relative_paths_follow_the_file() {
        let c = Config::parse("", Path::new("/etc/rollcall/rollcall.toml")).unwrap();
        assert_eq!(c.models.detector, "yunet-s");
        assert_eq!(c.models.dir, PathBuf::from("/etc/rollcall/models"));
    }

    #[test]
    fn a_cameras_own_unassessed_overrides_the_liveness_section() {
        let text = "[liveness]\nunassessed = \"allow\"\n\
                    [[cameras]]\nid = \"kiosk\"\nkind = \"v4l2\"\ndevice = \"/dev/video0\"\nunassessed = \"require\"\n\
                    [[cameras]]\nid = \"ceiling\"\nkind = \"v4l2\"\ndevice = \"/dev/video1\"\n";
        let c = Config::parse_unchecked(text, Path::new("c.toml")).unwrap();
        assert_eq!(c.unassessed_for("kiosk"), Unassessed::Require);
        assert_eq!(c.unassessed_for("ceiling"), Unassessed::Allow);
        assert_eq!(c.unassessed_for("not-configured"), Unassessed::Allow);
        let e = Config::parse_unchecked(&text.replace("\"require\"", "\"maybe\""), Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown variant `maybe`"), "{e}");
    }

    #[test]
    fn a_doubtful_band_above_the_threshold_or_motion_both_rigid_and_live_is_refused() {
        let path = Path::new("c.toml");
        let text = "[liveness]\nthreshold = 0.4\nspoof_below = 0.5\nrigid_max_deformation = 0.05\n";
        let config = Config::parse_unchecked(text, path).unwrap();
        let found: Vec<String> = config.problems(path).iter().map(ToString::to_string).collect();
        assert!(
            found
                .iter()
                .any(|f| f.ends_with("[liveness] spoof_below: 0.5 must be a number from 0 to 0.4")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(
                |f| f.contains("[liveness] nonrigid_min_deformation") && f.contains("rigid_max_deformation (0.05)")
            ),
            "{found:#?}"
        );
        assert!(Config::parse("[liveness]\nspoof_below = 0.3\n", path).is_ok());
    }

    #[test]
    fn credentials_never_survive_redaction() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/s1"),
            "rtsp://***@10.0.0.5:554/s1"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/s1"), "rtsp://10.0.0.5/s1");
        assert_eq!(
            redact_url("rtsp://admin:pa/ss@word@10.0.0.5:554/s1"),
            "rtsp://***@10.0.0.5:554/s1",
            "a password holding / and @"
        );
        assert_eq!(
            split_credentials("rtsp://admin:pa/ss@10.0.0.5/s1"),
            (
                "rtsp://10.0.0.5/s1".to_string(),
                Some(("admin".to_string(), "pa/ss".to_string()))
            )
        );
    }

    #[test]
    fn every_section_reports_each_of_its_problems_with_its_key() {
        let text = "[mqtt]\nhost = \"\"\nkeep_alive_s = 0\n\
                    [[cameras]]\nid = \"front\"\nkind = \"rtsp\"\nanalysis_fps = 0.0\n";
        let path = Path::new("c.toml");
        let config = Config::parse_unchecked(text, path).unwrap();
        let found: Vec<String> = config.problems(path).iter().map(ToString::to_string).collect();
        for expected in [
            "[mqtt] host: must name the broker",
            "[mqtt] keep_alive_s: 0 must be between 1 and 65535",
            "camera `front`: a rtsp camera needs `url`",
            "camera `front`: `analysis_fps` must be a number from 0.01 to 1000, got 0",
        ] {
            assert!(
                found.iter().any(|f| f.contains(expected)),
                "{expected:?} not in {found:#?}"
            );
        }
        assert_eq!(found.len(), 4, "{found:#?}");
        // The daemon stops at the first, as before.
        let first = config.check(path).unwrap_err().to_string();
        assert!(first.contains("[mqtt] host"), "{first}");
    }

    #[test]
    fn cameras_are_checked_by_kind_and_named_in_errors() {
        let e = Config::parse("[[cameras]]\nid = \"front\"\nkind = \"rtsp\"\n", Path::new("c.toml")).unwrap_err();
        assert!(
            e.to_string().contains("camera `front`: a rtsp camera needs `url`"),
            "{e}"
        );
        let e = Config::parse("[[cameras]]\nid = \"x\"\nkind = \"webcam\"\n", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("unknown variant `webcam`"), "{e}");
        let two = "[[cameras]]\nid = \"a\"\nkind = \"v4l2\"\ndevice = \"/dev/video0\"\n";
        let e = Config::parse(&format!("{two}{two}"), Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("same id"), "{e}");
        let e = Config::parse(
            "[[cameras]]\nid = \"u\"\nkind = \"rtsp\"\nurl = \"http://a:b@cam/x\"\n",
            Path::new("c.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("***@cam") && !e.to_string().contains("a:b"),
            "{e}"
        );
        let e = Config::parse(
            "[[cameras]]\nid = \"demo\"\nkind = \"uri\"\nuri = \"clip.mp4\"\n",
            Path::new("/nowhere/c.toml"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("camera `demo`: `uri` names the file /nowhere/clip.mp4, which does not exist"),
            "{e}"
        );
    }

    #[test]
    fn the_example_config_in_the_repo_parses() {
        let text = include_str!("../../config/rollcall.toml");
        let c = Config::parse(text, Path::new("config/rollcall.toml")).unwrap();
        assert_eq!(c.liveness.threshold, DEFAULT_LIVE_THRESHOLD);
        assert_eq!(c.models.dir, PathBuf::from("config/../models"));
    }

    #[test]
    fn metrics_listen_on_an_address_and_a_bad_one_is_refused_where_it_is() {
        let c = Config::parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n", Path::new("a.toml")).unwrap();
        assert_eq!(c.metrics.map(|m| m.listen.port()), Some(9464));
        assert!(
            Config::parse("", Path::new("a.toml")).unwrap().metrics.is_none(),
            "off unless set"
        );
        let e = Config::parse("[metrics]\nlisten = \"localhost\"\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn a_template_retention_of_zero_days_is_refused() {
        let e = Config::parse("[store]\ntemplate_retention_days = 0\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("template_retention_days"), "{e}");
        let c = Config::parse("[store]\ntemplate_retention_days = 400\n", Path::new("a.toml")).unwrap();
        assert_eq!(c.store.template_retention_days, Some(400));
    }

    #[test]
    fn the_classroom_example_parses_as_written() {
        let text = include_str!("../../config/classroom.toml");
        let c = Config::parse(text, Path::new("/etc/rollcall/rollcall.toml")).unwrap();
        assert_eq!(c.cameras.len(), 3);
        assert_eq!(c.timetable.sessions.len(), 2);
        let m = c.mqtt.unwrap();
        assert_eq!((m.port(), m.tls.is_some()), (8883, true));
    }

    #[test]
    fn the_mqtt_section_resolves_its_files_and_checks_its_values() {
        let c = Config::parse(
            "[mqtt]\nhost = \"broker\"\nroster_key_file = \"site.key\"\n[mqtt.tls]\nca_file = \"ca.pem\"\n",
            Path::new("/etc/rollcall/rollcall.toml"),
        )
        .unwrap();
        let m = c.mqtt.unwrap();
        assert_eq!(m.port(), 8883, "TLS defaults to 8883");
        assert_eq!(m.roster_key_file, Some(PathBuf::from("/etc/rollcall/site.key")));
        assert_eq!(m.tls.unwrap().ca_file, PathBuf::from("/etc/rollcall/ca.pem"));
        let e = Config::parse("[mqtt]\ntopic_prefix = \"a/#\"\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("[mqtt] topic_prefix"), "{e}");
        let e = Config::parse(
            "[mqtt]\n[mqtt.tls]\nca_file = \"ca.pem\"\nclient_key = \"c.key\"\n",
            Path::new("a.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("client_key without client_cert"), "{e}");
        // A certificate alone is fine: its key may come as the credential rollcall.mqtt-client-key.
        Config::parse(
            "[mqtt]\n[mqtt.tls]\nca_file = \"ca.pem\"\nclient_cert = \"c.pem\"\n",
            Path::new("a.toml"),
        )
        .unwrap();
        let e = Config::parse("[mqtt]\nkeep_alive_s = 0\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("keep_alive_s"), "{e}");
        assert!(
            Config::parse("", Path::new("a.toml")).unwrap().mqtt.is_none(),
            "no [mqtt], no MQTT"
        );
    }

    #[test]
    fn no_number_or_id_can_panic_the_daemon() {
        for (text, expected) in [
            ("[mqtt]\nreconnect_max_s = inf\n", "[mqtt] reconnect_max_s"),
            ("[mqtt]\nreconnect_min_s = nan\n", "[mqtt] reconnect_min_s"),
            ("[mqtt.outbox]\nretention_days = inf\n", "[mqtt] outbox.retention_days"),
            ("[mqtt.outbox]\nmax_age_days = -1.0\n", "[mqtt] outbox.max_age_days"),
            ("[track]\nmax_unseen_s = inf\n", "[track] max_unseen_s"),
            ("[recognize]\nvote_share = nan\n", "[recognize] vote_share"),
            ("[enroll]\ntimeout_s = 1e300\n", "[enroll] timeout_s"),
            ("[device]\nid = \"room/101\"\n", "[device] id"),
            ("[device]\nsite = \"#\"\n", "[device] site"),
            ("[device]\nid = \"a\\u0000b\"\n", "[device] id"),
            (
                "[device]\nid = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n",
                "[device] id",
            ),
        ] {
            let e = Config::parse(text, Path::new("a.toml")).unwrap_err();
            assert!(e.to_string().contains(expected), "{text}: {e}");
        }
        assert!(
            Config::parse(
                "[device]\nid = \"room-101\"\nsite = \"hillside\"\n",
                Path::new("a.toml")
            )
            .is_ok()
        );
    }

    #[test]
    fn a_password_in_clear_text_needs_to_be_allowed() {
        let plain = "[mqtt]\nusername = \"room\"\n";
        let e = Config::parse(plain, Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("clear text"), "{e}");
        assert!(
            Config::parse(
                &format!("{plain}allow_plaintext_password = true\n"),
                Path::new("a.toml")
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_reported_with_where_they_are() {
        let e = Config::parse("[detect]\nscore_treshold = 0.5\n", Path::new("a.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("a.toml") && msg.contains("score_treshold") && msg.contains("line 2"),
            "{msg}"
        );
        let e = Config::parse("[detect]\nscore_threshold = 1.5\n", Path::new("a.toml")).unwrap_err();
        assert!(
            e.to_string()
                .contains("[detect] score_threshold: 1.5 must be between 0 and 1"),
            "{e}"
        );
        let e = Config::parse("[detect]\ninput_size = [600, 640]\n", Path::new("a.toml")).unwrap_err();
        assert!(e.to_string().contains("multiples of 32"), "{e}");
    }
}
