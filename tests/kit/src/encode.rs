//! Runs a GStreamer description that writes a file, to its end: how tests and benches make clips.

use std::path::PathBuf;

use gstreamer::prelude::*;

/// Plays `description` until end of stream, failing on an error or after `timeout_s` seconds.
pub fn run_to_eos(description: &str, timeout_s: u64) {
    gstreamer::init().unwrap();
    let p = gstreamer::parse::launch(description).unwrap_or_else(|e| panic!("{description}: {e}"));
    p.set_state(gstreamer::State::Playing).unwrap();
    let msg = p
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gstreamer::ClockTime::from_seconds(timeout_s),
            &[gstreamer::MessageType::Eos, gstreamer::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("{description}: no end of stream within {timeout_s} s"));
    assert!(matches!(msg.view(), gstreamer::MessageView::Eos(_)), "{msg:?}");
    p.set_state(gstreamer::State::Null).unwrap();
}

/// The Hamilton clip six times over (a minute, H.264), so a run never waits on a file looping
/// back. Its frames are re-timed to follow on without a break: the clip's container outlasts its
/// video by 0.86 s, and joining the files as they are left that long without a frame at every
/// joint, which no real camera does (it cost the benches 8% of their frames per second).
pub fn long_hamilton_clip(shared: &std::path::Path) -> PathBuf {
    let out = std::env::temp_dir().join("rollcall-bench-hamilton-x6-continuous.mp4");
    if out.exists() {
        return out;
    }
    let src = shared.join("videos/short_hamilton_clip.mp4");
    let frames = (0..6).flat_map(|_| {
        rollcall::capture::FileFrames::open(&src, 30.0, 1920)
            .unwrap()
            .map(|(image, _)| Ok(image))
    });
    rollcall::capture::slideshow::write_video(frames, 30, &out).unwrap();
    out
}
