//! `/healthz`: whether the daemon is doing its job, judged from plain data so it is tested
//! without cameras or a broker.

use serde::Serialize;

use crate::attend::held::StoreState;
use crate::sync::mqtt::LinkState;
use crate::sync::status::{CameraHealth, DeviceStatus};

/// The health check's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// `ok`, or `degraded` when anything below is wrong.
    pub status: &'static str,
    /// What is wrong, in plain words; empty when healthy.
    pub problems: Vec<String>,
    /// Each camera's state.
    pub cameras: std::collections::BTreeMap<String, CameraHealth>,
    /// `ok`, or `failing` while decisions are held in memory.
    pub store: StoreState,
    /// `connected`, `disconnected`, or `not_configured` without `[mqtt]`.
    pub broker: &'static str,
}

impl Health {
    /// Whether every part is well: the HTTP status is 200 then, 503 otherwise.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Degraded when a camera is not streaming (a camera still connecting at start counts: nothing
/// is watched through it yet), the store refuses writes, or the broker is configured but not
/// connected.
pub fn judge_health(status: &DeviceStatus, link: Option<&LinkState>) -> Health {
    let mut problems = Vec::new();
    for (id, camera) in &status.cameras {
        if camera.state != CameraHealth::Streaming {
            let state = serde_json::to_value(camera.state).ok();
            let state = state.as_ref().and_then(|v| v.as_str()).unwrap_or("not streaming");
            problems.push(format!("camera {id} is {state}"));
        }
    }
    if status.cameras.is_empty() {
        problems.push("no camera is watched yet".to_string());
    }
    if status.store.state == StoreState::Failing {
        problems.push(format!(
            "the store refuses writes: {} decisions held in memory",
            status.store.held
        ));
    }
    let broker = match link {
        None => "not_configured",
        Some(l) if l.connected => "connected",
        Some(_) => {
            problems.push("the MQTT broker is not connected: events wait in the outbox".to_string());
            "disconnected"
        }
    };
    Health {
        status: if problems.is_empty() { "ok" } else { "degraded" },
        problems,
        cameras: status.cameras.iter().map(|(id, c)| (id.clone(), c.state)).collect(),
        store: status.store.state,
        broker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::status::{CameraReport, StatusBoard};

    fn status(cameras: &[(&str, CameraHealth)], store: StoreState) -> DeviceStatus {
        let board = StatusBoard::new("dev");
        board.update(|s| {
            for (id, state) in cameras {
                s.cameras.insert(
                    id.to_string(),
                    CameraReport {
                        state: *state,
                        ..CameraReport::default()
                    },
                );
            }
            s.store.state = store;
            s.store.held = if store == StoreState::Failing { 3 } else { 0 };
        });
        board.snapshot()
    }

    #[test]
    fn healthy_only_when_every_camera_streams_the_store_writes_and_the_broker_is_there() {
        let connected = LinkState {
            connected: true,
            ..LinkState::default()
        };
        let good = status(&[("door", CameraHealth::Streaming)], StoreState::Ok);
        let h = judge_health(&good, Some(&connected));
        assert!(h.is_ok(), "{h:?}");
        assert_eq!(h.broker, "connected");
        assert!(judge_health(&good, None).is_ok(), "no [mqtt]: nothing to connect to");

        let down = status(
            &[("door", CameraHealth::Streaming), ("hall", CameraHealth::Down)],
            StoreState::Ok,
        );
        let h = judge_health(&down, Some(&connected));
        assert_eq!(h.status, "degraded");
        assert_eq!(h.problems, vec!["camera hall is down".to_string()]);

        let failing = status(&[("door", CameraHealth::Streaming)], StoreState::Failing);
        let h = judge_health(&failing, Some(&LinkState::default()));
        assert_eq!(h.problems.len(), 2, "{h:?}");
        assert!(h.problems[0].contains("3 decisions held"));
        assert_eq!(h.broker, "disconnected");

        assert!(!judge_health(&status(&[], StoreState::Ok), None).is_ok());
    }
}
