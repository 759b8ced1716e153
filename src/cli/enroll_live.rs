//! `rollcall enroll --camera ID --person ID`: guided live enrollment at a camera.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use rollcall::capture::Camera;
use rollcall::config::Config;
use rollcall::enroll::live::{Guidance, LiveEnrollError, LiveEnrollment};
use rollcall::store::Enrollment;
use rollcall::vision::analyze::FaceAnalyzer;
use rollcall::vision::embed::Embedding;

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
    let mut store = super::roster::open_store(config)?;
    if store.is_enrolled(who.person)? && !who.may_update {
        return Err(CliError::Usage(format!(
            "{} is already enrolled: add --replace to replace their templates, or --add to add to them",
            who.person
        )));
    }
    let cam_config = super::cameras::select(config, Some(who.camera))?.remove(0);
    let mut pipeline = FaceAnalyzer::from_config(config)?;
    if pipeline.antispoof().is_none() {
        return Err(CliError::Usage(
            "live enrollment needs the anti-spoofing models ([models] antispoof)".into(),
        ));
    }
    let stop = super::signals::catch_stop();
    let camera = Camera::start(cam_config)?;
    let steps = config.enroll.steps.len() as u64 * config.enroll.hold_frames as u64;
    let bar = if who.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(steps);
        bar.set_style(ProgressStyle::with_template("{bar:30} {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar
    };
    let hold = config.enroll.hold_frames as u64;
    let mut poses_done = 0u64;
    let mut guide = |g: &Guidance| {
        if who.json {
            println!("{}", serde_json::to_string(g).unwrap_or_default());
            return;
        }
        match g {
            Guidance::Step { prompt, done, .. } => {
                poses_done = *done as u64;
                bar.set_position(poses_done * hold);
                bar.set_message(prompt.to_string());
                // Without a terminal there is no bar to show the prompt: say it on its own line.
                if bar.is_hidden() {
                    println!("{prompt}");
                }
            }
            Guidance::Holding { held, .. } => bar.set_position(poses_done * hold + u64::from(*held).min(hold)),
            Guidance::StepDone { step } => bar.suspend(|| println!("  done: {step:?}")),
            Guidance::Hint { message } => {
                bar.set_message(message.clone());
                if bar.is_hidden() {
                    println!("  {message}");
                }
            }
        }
    };
    let mut enrollment = LiveEnrollment::new(&mut pipeline, &config.enroll, &config.liveness);
    let outcome = enrollment.run(
        || camera.next_frame(Duration::from_millis(500)).map(|f| f.image),
        &mut guide,
        &stop,
    );
    bar.finish_and_clear();
    camera.stop();
    let captured = match outcome {
        Ok(c) => c,
        Err(LiveEnrollError::Cancelled) => {
            if who.json {
                println!("{}", serde_json::json!({"event": "cancelled"}));
            }
            return Err(CliError::Interrupted);
        }
        Err(e) => {
            if who.json {
                println!("{}", serde_json::json!({"event": "failed", "reason": e.to_string()}));
            }
            return Err(e.into());
        }
    };
    let mut templates: Vec<(Embedding, f32)> = captured.templates.iter().map(|(_, e, q)| (e.clone(), *q)).collect();
    if let Some(mean) = &captured.mean {
        let q = templates.iter().map(|t| t.1).fold(0.0, f32::max);
        templates.push((mean.clone(), q));
    }
    store.enroll(&Enrollment {
        person_id: who.person,
        name: who.name,
        // Live enrollment without --group keeps the groups the person already has.
        groups: (!who.groups.is_empty()).then_some(who.groups),
        templates: &templates,
        replace: who.replace,
    })?;
    let poses: Vec<String> = captured
        .templates
        .iter()
        .map(|(p, _, q)| format!("{p:?} (quality {q:.2})"))
        .collect();
    if who.json {
        println!(
            "{}",
            serde_json::json!({"event": "enrolled", "person": who.person, "templates": templates.len(),
                "lowest_live": captured.lowest_live, "deformation": captured.motion.deformation})
        );
    } else {
        println!(
            "{} enrolled with {} templates: {}{}; live score at least {:.2}",
            who.person,
            templates.len(),
            poses.join(", "),
            if captured.mean.is_some() {
                ", and their mean"
            } else {
                ""
            },
            captured.lowest_live
        );
    }
    Ok(())
}
