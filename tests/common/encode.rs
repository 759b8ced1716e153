//! Runs a GStreamer description that writes a file, to its end: how tests and benches make clips.

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
