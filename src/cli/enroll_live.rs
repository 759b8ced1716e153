//! `rollcall enroll --camera ID --person ID`: guided live enrollment at a camera.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use rollcall::capture::Camera;
use rollcall::config::Config;
use rollcall::enroll::live::{Captured, Guidance, LiveEnrollError, LiveEnrollment};
use rollcall::store::Enrollment;
use rollcall::vision::analyze::FaceAnalyzer;

/// Who is enrolled, and whether earlier templates go.
pub struct LiveEnrollee<'a> {
    /// Camera id from the config.
    pub camera: &'a str,
    /// Person id.
    pub person: &'a str,
    /// Display name.
    pub name: Option<&'a str>,
    /// Class groups.
    pub groups: &'a [String],
    /// Replace earlier templates (else add to them).
    pub replace: bool,
    /// Allowed to touch an existing enrollment at all (`--replace` or `--add`).
    pub may_update: bool,
    /// Prompts as JSON lines on stdout.
    pub json: bool,
}

/// Runs the guided capture and stores the result.
pub fn run(config: &Config, who: LiveEnrollee<'_>) -> Result<(), CliError> {
    let mut store = super::open_store(config)?;
    if store.is_enrolled(who.person)? && !who.may_update {
        return Err(CliError::Usage(format!(
            "{} is already enrolled: add --replace to replace their templates, or --add to add to them",
            who.person
        )));
    }
    let cam_config = super::cameras::select(config, Some(who.camera))?.remove(0);
    let mut analyzer = FaceAnalyzer::from_config(config)?;
    if analyzer.antispoof().is_none() {
        return Err(CliError::Usage(
            "live enrollment needs the anti-spoofing models ([models] antispoof)".into(),
        ));
    }
    let stop = super::signals::catch_stop();
    let camera = Camera::start(cam_config)?;
    let mut prompts = Prompts::new(config, who.json);
    let mut enrollment = LiveEnrollment::new(&mut analyzer, &config.enroll, &config.liveness);
    let outcome = enrollment.run(
        || camera.next_frame(Duration::from_millis(500)).map(|f| f.image),
        &mut |g| prompts.show(g),
        &stop,
    );
    prompts.bar.finish_and_clear();
    camera.stop();
    let captured = match outcome {
        Ok(c) => c,
        Err(LiveEnrollError::Cancelled) => {
            if who.json {
                outln!("{}", serde_json::json!({"event": "cancelled"}));
            }
            return Err(CliError::Interrupted);
        }
        Err(e) => {
            if who.json {
                outln!("{}", serde_json::json!({"event": "failed", "reason": e.to_string()}));
            }
            return Err(e.into());
        }
    };
    let templates = captured.to_save();
    store.enroll(&Enrollment {
        person_id: who.person,
        name: who.name,
        // Live enrollment without --group keeps the groups the person already has.
        groups: (!who.groups.is_empty()).then_some(who.groups),
        templates: &templates,
        replace: who.replace,
    })?;
    let detail = format!(
        "live at camera {}, {} templates{}",
        who.camera,
        templates.len(),
        if who.replace {
            ", replacing the earlier ones"
        } else {
            ""
        }
    );
    super::append_audit(
        &mut store,
        config,
        rollcall::event::AuditAction::Enroll,
        who.person,
        &detail,
    )?;
    report(&who, &captured, templates.len());
    Ok(())
}

/// The guidance as the admin sees it: a progress bar with the prompt, or JSON lines.
struct Prompts {
    bar: ProgressBar,
    /// Frames each pose is held for.
    hold: u64,
    poses_done: u64,
    json: bool,
}

impl Prompts {
    fn new(config: &Config, json: bool) -> Prompts {
        let hold = config.enroll.hold_frames as u64;
        let bar = if json {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(config.enroll.steps.len() as u64 * hold);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        };
        Prompts {
            bar,
            hold,
            poses_done: 0,
            json,
        }
    }

    fn show(&mut self, g: &Guidance) {
        if self.json {
            outln!("{}", serde_json::to_string(g).unwrap_or_default());
            return;
        }
        let (bar, hold) = (&self.bar, self.hold);
        match g {
            Guidance::Step { prompt, done, .. } => {
                self.poses_done = *done as u64;
                bar.set_position(self.poses_done * hold);
                bar.set_message(prompt.to_string());
                // Without a terminal there is no bar to show the prompt: say it on its own line.
                if bar.is_hidden() {
                    outln!("{prompt}");
                }
            }
            Guidance::Holding { held, .. } => bar.set_position(self.poses_done * hold + u64::from(*held).min(hold)),
            Guidance::StepDone { step } => bar.suspend(|| outln!("  done: {step:?}")),
            Guidance::Hint { message } => {
                bar.set_message(message.clone());
                if bar.is_hidden() {
                    outln!("  {message}");
                }
            }
        }
    }
}

/// Says who was enrolled with what.
fn report(who: &LiveEnrollee<'_>, captured: &Captured, saved: usize) {
    if who.json {
        outln!(
            "{}",
            serde_json::json!({"event": "enrolled", "person": who.person, "templates": saved,
                "lowest_live": captured.lowest_live, "deformation": captured.motion.deformation})
        );
        return;
    }
    let poses: Vec<String> = captured
        .templates
        .iter()
        .map(|(p, _, q)| format!("{p:?} (quality {q:.2})"))
        .collect();
    outln!(
        "{} enrolled with {} templates: {}{}; live score at least {:.2}",
        who.person,
        saved,
        poses.join(", "),
        if captured.mean.is_some() {
            ", and their mean"
        } else {
            ""
        },
        captured.lowest_live
    );
}
