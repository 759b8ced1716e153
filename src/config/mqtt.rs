//! `[mqtt]`: how this box talks to the backend's broker.

use std::path::PathBuf;

use serde::Deserialize;

use super::Problem;

/// TLS to the broker.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// CA certificate(s) the broker's certificate must chain to (PEM).
    pub ca_file: PathBuf,
    /// Client certificate (PEM), for brokers that authenticate devices by certificate.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, mode 0600); else the systemd credential
    /// `rollcall.mqtt-client-key`.
    pub client_key: Option<PathBuf>,
}

/// Bounds on the outbox of events waiting for the broker.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Undelivered events kept at most; past it the oldest are dropped from the outbox (they stay
    /// in the attendance log).
    pub max_events: u64,
    /// Undelivered events older than this many days are dropped likewise.
    pub max_age_days: f64,
    /// Undelivered events above which the status warns.
    pub warn_events: u64,
    /// Delivered events are deleted from the outbox after this many days.
    pub retention_days: f64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            max_events: 1_000_000,
            max_age_days: 30.0,
            warn_events: 10_000,
            retention_days: 7.0,
        }
    }
}

impl OutboxConfig {
    /// Values out of range, each under `outbox.` within `[mqtt]`.
    fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (key, days) in [
            ("outbox.max_age_days", self.max_age_days),
            ("outbox.retention_days", self.retention_days),
        ] {
            if !(days.is_finite() && (0.0..=36_500.0).contains(&days)) {
                problems.push(Problem::new(
                    "mqtt",
                    key,
                    format!("{days} must be a number of days from 0 to 36500"),
                ));
            }
        }
        if self.max_events == 0 || self.warn_events > self.max_events {
            problems.push(Problem::new(
                "mqtt",
                "outbox",
                format!(
                    "max_events ({}) must be positive and at least warn_events ({})",
                    self.max_events, self.warn_events
                ),
            ));
        }
        problems
    }
}

/// The broker connection, topics and roster sync.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port; default 1883, or 8883 with TLS.
    pub port: Option<u16>,
    /// MQTT client id; default `rollcall-{device}`.
    pub client_id: Option<String>,
    /// Seconds between keep-alive pings; a dead connection is noticed within 1.5 times this.
    pub keep_alive_s: u64,
    /// User name, if the broker wants one.
    pub username: Option<String>,
    /// File holding the password (first line, mode 0600); else the systemd credential
    /// `rollcall.mqtt-password`, else the environment variable `password_env`.
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: String,
    /// TLS; plain TCP when absent.
    pub tls: Option<TlsConfig>,
    /// Topic prefix; `{site}` is replaced by the site id.
    pub topic_prefix: String,
    /// Seconds between status updates (it is also sent whenever it changes).
    pub status_interval_s: u64,
    /// A published event not acknowledged within this many seconds means the broker is stuck:
    /// the connection is dropped and made again.
    pub ack_timeout_s: u64,
    /// Events published and not yet acknowledged, at most.
    pub max_inflight: u16,
    /// First reconnect delay, seconds; doubles up to `reconnect_max_s`, with jitter.
    pub reconnect_min_s: f64,
    /// Longest reconnect delay, seconds.
    pub reconnect_max_s: f64,
    /// Take rosters from the backend (`{prefix}/roster` and `{prefix}/{device}/roster`).
    pub accept_roster: bool,
    /// Largest roster message accepted, bytes; larger ones are refused unread.
    pub roster_max_bytes: usize,
    /// Refused roster or timetable messages: the first on a topic for a reason raises an alert at
    /// once, the rest within this many seconds are summed up in one alert, so a flood of junk
    /// costs a bounded number of alerts.
    pub refusal_alert_interval_s: f64,
    /// Send a username and password over plain TCP (no `[mqtt.tls]`), where anyone on the path
    /// can read them. Off: such a config is refused.
    pub allow_plaintext_password: bool,
    /// The backend's verifying key (base64, as `rollcall keygen --signing` prints it): rosters
    /// and timetables are taken only when signed with its key. Else the systemd credential
    /// `rollcall.roster-verify-key`.
    pub roster_verify_key: Option<String>,
    /// Also take rosters sealed under the shared site key (`rollcall-roster/2`), as before they
    /// were signed: only while a site moves over, since any box's site key can forge them.
    pub allow_site_key_rosters: bool,
    /// Site key file for `allow_site_key_rosters`; else `ROLLCALL_SITE_KEY`,
    /// `ROLLCALL_SITE_KEY_FILE` or the systemd credential `rollcall.site-key`.
    pub roster_key_file: Option<PathBuf>,
    /// Outbox bounds.
    pub outbox: OutboxConfig,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: "localhost".into(),
            port: None,
            client_id: None,
            keep_alive_s: 30,
            username: None,
            password_file: None,
            password_env: "ROLLCALL_MQTT_PASSWORD".into(),
            tls: None,
            topic_prefix: "rollcall/v1/{site}".into(),
            status_interval_s: 60,
            ack_timeout_s: 20,
            // Wide enough that a broker which delays its PUBACKs (Nagle: mosquitto's default)
            // still drains a backlog at thousands of events per second.
            max_inflight: 128,
            reconnect_min_s: 1.0,
            reconnect_max_s: 60.0,
            accept_roster: true,
            // About 3000 people with three 512-d templates each.
            roster_max_bytes: 32 << 20,
            refusal_alert_interval_s: 60.0,
            allow_plaintext_password: false,
            roster_verify_key: None,
            allow_site_key_rosters: false,
            roster_key_file: None,
            outbox: OutboxConfig::default(),
        }
    }
}

impl MqttConfig {
    /// The port: configured, else the MQTT default for the transport.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(if self.tls.is_some() { 8883 } else { 1883 })
    }

    /// Every value out of range or in conflict, in the order of the example file.
    pub(super) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.host.trim().is_empty() {
            problems.push(Problem::new("mqtt", "host", "must name the broker"));
        }
        problems.extend(self.timing_problems());
        problems.extend(self.access_problems());
        problems.extend(self.outbox.problems());
        problems
    }

    /// Keep-alive, timeouts, reconnect delays and alert spacing.
    fn timing_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.keep_alive_s == 0 || self.keep_alive_s > 65_535 {
            problems.push(Problem::new(
                "mqtt",
                "keep_alive_s",
                format!("{} must be between 1 and 65535", self.keep_alive_s),
            ));
        }
        if self.ack_timeout_s == 0 {
            problems.push(Problem::new("mqtt", "ack_timeout_s", "must be at least 1"));
        }
        if self.status_interval_s == 0 {
            problems.push(Problem::new("mqtt", "status_interval_s", "must be at least 1"));
        }
        if self.max_inflight == 0 {
            problems.push(Problem::new("mqtt", "max_inflight", "must be at least 1"));
        }
        if !(self.reconnect_min_s > 0.0 && self.reconnect_min_s <= self.reconnect_max_s) {
            problems.push(Problem::new(
                "mqtt",
                "reconnect_min_s",
                format!(
                    "{} must be positive and at most reconnect_max_s ({})",
                    self.reconnect_min_s, self.reconnect_max_s
                ),
            ));
        }
        if !(self.reconnect_max_s.is_finite() && self.reconnect_max_s <= 3600.0) {
            problems.push(Problem::new(
                "mqtt",
                "reconnect_max_s",
                format!("{} must be a number of seconds up to 3600", self.reconnect_max_s),
            ));
        }
        if !(self.refusal_alert_interval_s.is_finite() && (0.1..=86_400.0).contains(&self.refusal_alert_interval_s)) {
            problems.push(Problem::new(
                "mqtt",
                "refusal_alert_interval_s",
                format!(
                    "{} must be between 0.1 and 86400 seconds",
                    self.refusal_alert_interval_s
                ),
            ));
        }
        problems
    }

    /// Credentials, TLS, topics and the roster size: what decides who may talk to whom.
    fn access_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.username.is_some() && self.tls.is_none() && !self.allow_plaintext_password {
            problems.push(Problem::new(
                "mqtt",
                "username",
                "a password would cross the network in clear text: add [mqtt.tls] (and a port such as 8883), \
                 or set allow_plaintext_password = true on a network you trust",
            ));
        }
        if let Some(text) = &self.roster_verify_key {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD.decode(text.trim());
            if decoded.map_or(true, |bytes| bytes.len() != 32) {
                problems.push(Problem::new(
                    "mqtt",
                    "roster_verify_key",
                    "must be base64 of 32 bytes (44 characters), as the backend's `rollcall keygen --signing` prints it",
                ));
            }
        }
        if self.roster_max_bytes < 1024 {
            problems.push(Problem::new("mqtt", "roster_max_bytes", "must be at least 1024"));
        }
        if !self.topic_prefix.is_empty() && (self.topic_prefix.contains(['#', '+']) || self.topic_prefix.ends_with('/'))
        {
            problems.push(Problem::new(
                "mqtt",
                "topic_prefix",
                format!("`{}` may not contain wildcards (# +) or end with /", self.topic_prefix),
            ));
        }
        if self.username.is_none() && self.password_file.is_some() {
            problems.push(Problem::new("mqtt", "password_file", "a password needs a username"));
        }
        if let Some(tls) = &self.tls
            && tls.client_cert.is_none()
            && tls.client_key.is_some()
        {
            problems.push(Problem::new(
                "mqtt",
                "tls",
                "client_key without client_cert: give both (the key may also come from the credential \
                 rollcall.mqtt-client-key), or neither",
            ));
        }
        problems
    }
}
