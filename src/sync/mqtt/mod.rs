//! MQTT: attendance events and alerts out, status with a last will, rosters in.
//!
//! Events go out at least once. The store writes each event into the outbox in the same
//! transaction that records it; this task publishes the outbox oldest first with QoS 1 and marks
//! a row delivered only when the broker's PUBACK for that very packet arrives. Nothing of a
//! connection outlives it: after any loss the client is rebuilt and the outbox, not the client's
//! memory, says what to send again. A broker that stops acknowledging (frozen, not closed) is
//! caught by an acknowledgement timeout, not only by the socket.
//!
//! The contract (topics, payloads, examples) is in `docs/mqtt.md`.

mod link;
mod outbox_thread;
pub mod signed;
mod topics;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};
use tokio::sync::watch;

pub use topics::{Inbound, Topics};

use crate::config::{Config, MqttConfig};
use crate::shutdown::Shutdown;
use crate::store::{Outbox, OutboxLimits, StoreError};
use crate::sync::roster::RosterSync;
use crate::sync::status::{StatusBoard, offline_payload};

/// Why the MQTT side could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A file named in `[mqtt]` could not be read.
    #[error("[mqtt] {key}: cannot read {path}: {source}")]
    File {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A username without any password source.
    #[error(
        "[mqtt] username is set but there is no password: set password_file, or give the service the \
         credential rollcall.mqtt-password, or set the environment variable {0}"
    )]
    NoPassword(String),
    /// A client certificate without its key.
    #[error(
        "[mqtt.tls] client_cert is set but there is no key for it: set client_key, or give the service the \
         credential rollcall.mqtt-client-key"
    )]
    NoClientKey,
    /// A one-off publish did not get through.
    #[error("publishing to {broker} failed: {reason}")]
    Publish { broker: String, reason: String },
    /// The outbox could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The thread that keeps the outbox could not be started.
    #[error("cannot start the outbox thread: {0}")]
    Thread(std::io::Error),
}

/// Everything the MQTT task needs, resolved from the config: files read, topics built.
#[derive(Clone)]
pub struct MqttSettings {
    /// Client options (broker, credentials, TLS, last will).
    pub options: MqttOptions,
    /// Topic names.
    pub topics: Topics,
    /// Device id.
    pub device: String,
    /// Status is republished at least this often.
    pub status_interval: Duration,
    /// An unacknowledged publish older than this drops the connection.
    pub ack_timeout: Duration,
    /// Events published and not yet acknowledged, at most.
    pub max_inflight: usize,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
    /// Subscribe to the roster topics.
    pub accept_roster: bool,
    /// Outbox bounds and retention.
    pub outbox_limits: OutboxLimits,
    /// The device's key, which signs every event, alert, audit record and status it publishes
    /// ([`signed`]); unsigned without one.
    pub signer: Option<Arc<crate::keys::DeviceKey>>,
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (host, port) = self.options.broker_address();
        f.debug_struct("MqttSettings")
            .field("broker", &format!("{host}:{port}"))
            .field("topics", &self.topics)
            .finish()
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|source| MqttError::File {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a file holding a secret, refusing one that group or others may read or write.
fn read_private(key: &'static str, path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, MqttError> {
    crate::private_file::read_secret(path).map_err(|source| MqttError::File {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// The systemd credential that may hold the broker password.
pub const PASSWORD_CREDENTIAL: &str = "rollcall.mqtt-password";
/// The systemd credential that may hold the TLS client certificate's private key.
pub const CLIENT_KEY_CREDENTIAL: &str = "rollcall.mqtt-client-key";

/// The broker password: `password_file`, else the credential `rollcall.mqtt-password` in
/// `credentials`, else the environment variable `password_env`. Its first line, wiped from
/// memory when dropped.
fn password(m: &MqttConfig, credentials: Option<&Path>) -> Result<zeroize::Zeroizing<String>, MqttError> {
    let file = match (
        &m.password_file,
        crate::private_file::credential_in(credentials, PASSWORD_CREDENTIAL),
    ) {
        (Some(path), _) => Some(("password_file", path.clone())),
        (None, Some(path)) => Some((PASSWORD_CREDENTIAL, path)),
        (None, None) => None,
    };
    let text = match file {
        Some((key, path)) => {
            let bytes = read_private(key, &path)?;
            zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => zeroize::Zeroizing::new(
            std::env::var(&m.password_env).map_err(|_| MqttError::NoPassword(m.password_env.clone()))?,
        ),
    };
    Ok(zeroize::Zeroizing::new(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

/// The client key's file: `[mqtt.tls] client_key`, else the credential `rollcall.mqtt-client-key`
/// in `credentials`.
fn client_key_file(tls: &crate::config::TlsConfig, credentials: Option<&Path>) -> Option<PathBuf> {
    tls.client_key
        .clone()
        .or_else(|| crate::private_file::credential_in(credentials, CLIENT_KEY_CREDENTIAL))
}

/// Bytes a roster message may have beyond its payload (topic and packet header).
const PACKET_OVERHEAD: usize = 64 << 10;
/// The largest packet the device sends. Events and status are far smaller; an outbox row that
/// would not fit is set aside rather than retried for ever.
pub(crate) const MAX_OUTGOING: usize = 1 << 20;

impl MqttSettings {
    /// The settings of `config`'s `[mqtt]` section, or `None` when it has none.
    pub fn from_config(config: &Config) -> Result<Option<MqttSettings>, MqttError> {
        let Some(m) = &config.mqtt else { return Ok(None) };
        let device = config.device.id();
        MqttSettings::new(m, &device, &config.device.site()).map(Some)
    }

    /// The settings of one `[mqtt]` section for `device` at `site`.
    pub fn new(m: &MqttConfig, device: &str, site: &str) -> Result<MqttSettings, MqttError> {
        let topics = Topics::new(&m.topic_prefix, site, device);
        let client_id = m.client_id.clone().unwrap_or_else(|| format!("rollcall-{device}"));
        let mut options = MqttOptions::new(client_id, m.host.clone(), m.port());
        options
            .set_keep_alive(Duration::from_secs(m.keep_alive_s))
            // The outbox holds the truth; a broker-side session would only replay what we resend anyway.
            .set_clean_session(true)
            .set_last_will(LastWill::new(
                topics.status.clone(),
                offline_payload(device),
                QoS::AtLeastOnce,
                true,
            ))
            .set_inflight(m.max_inflight)
            .set_request_channel_capacity(m.max_inflight as usize + 16)
            // Incoming: rosters up to the configured size; a bigger one fails the read before it
            // is buffered (see `link`). Outgoing: events and status are small.
            .set_max_packet_size(m.roster_max_bytes + PACKET_OVERHEAD, MAX_OUTGOING);
        if let Some(user) = &m.username {
            let password = password(m, crate::private_file::credentials_dir().as_deref())?;
            // rumqttc keeps its own copy for every reconnect; this one is wiped now.
            options.set_credentials(user.clone(), password.as_str());
        }
        if let Some(tls) = &m.tls {
            let ca = read("tls.ca_file", &tls.ca_file)?;
            let client_auth = match (
                &tls.client_cert,
                client_key_file(tls, crate::private_file::credentials_dir().as_deref()),
            ) {
                (Some(cert), Some(key)) => Some((
                    read("tls.client_cert", cert)?,
                    read_private("tls.client_key", &key)?.to_vec(),
                )),
                (Some(_), None) => return Err(MqttError::NoClientKey),
                _ => None,
            };
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth,
            }));
        }
        Ok(MqttSettings {
            options,
            topics,
            device: device.to_string(),
            status_interval: Duration::from_secs(m.status_interval_s),
            ack_timeout: Duration::from_secs(m.ack_timeout_s),
            max_inflight: m.max_inflight as usize,
            reconnect_min: crate::config::duration_s(m.reconnect_min_s),
            reconnect_max: crate::config::duration_s(m.reconnect_max_s),
            accept_roster: m.accept_roster,
            outbox_limits: OutboxLimits::from_config(&m.outbox),
            signer: None,
        })
    }
}

/// Publishes one retained message with QoS 1 and waits for the broker's acknowledgement: for
/// `rollcall roster publish`, which speaks for the backend, so it connects under its own client id
/// and without the device's last will.
pub async fn publish_retained(
    settings: &MqttSettings,
    topic: &str,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<(), MqttError> {
    let (host, port) = settings.options.broker_address();
    let broker = format!("{host}:{port}");
    let mut options = MqttOptions::new(format!("rollcall-publish-{}", std::process::id()), host, port);
    options
        .set_transport(settings.options.transport())
        .set_max_packet_size(MAX_OUTGOING, payload.len() + PACKET_OVERHEAD);
    if let Some(login) = settings.options.credentials() {
        options.set_credentials(login.username, login.password);
    }
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 4);
    let failed = |reason: String| MqttError::Publish {
        broker: broker.clone(),
        reason,
    };
    client
        .publish(topic, QoS::AtLeastOnce, true, payload)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let acked = async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Incoming::PubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(failed(e.to_string())),
            }
        }
    };
    tokio::time::timeout(timeout, acked)
        .await
        .map_err(|_| failed(format!("no acknowledgement within {} s", timeout.as_secs())))??;
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(500), eventloop.poll()).await;
    Ok(())
}

/// The state of the broker connection, for status and tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinkState {
    /// Connected now.
    pub connected: bool,
    /// Connections made so far.
    pub connects: u64,
    /// Connections lost so far (errors, timeouts).
    pub losses: u64,
    /// Why the last connection ended, or the last attempt failed.
    pub last_error: Option<String>,
    /// Events acknowledged by the broker since start.
    pub delivered: u64,
}

/// The running MQTT task.
#[derive(Debug)]
pub struct Mqtt {
    task: tokio::task::JoinHandle<()>,
    stop: Shutdown,
    link: watch::Receiver<LinkState>,
}

impl Mqtt {
    /// Starts the task on the current tokio runtime, and the outbox on a thread of its own.
    /// `roster` is the sync that takes rosters from the backend, if this device accepts them.
    pub fn spawn(
        settings: MqttSettings,
        outbox: Outbox,
        status: StatusBoard,
        roster: Option<RosterSync>,
    ) -> Result<Mqtt, MqttError> {
        let outbox = outbox_thread::OutboxThread::start(
            outbox,
            outbox_thread::Publishing {
                topics: settings.topics.clone(),
                device: settings.device.clone(),
                limits: settings.outbox_limits,
            },
        )
        .map_err(MqttError::Thread)?;
        let stop = Shutdown::new();
        let (link_tx, link) = watch::channel(LinkState::default());
        if let Some(r) = &roster {
            let now = r.roster_status();
            status.update(|s| s.roster = now);
        }
        // Asked once here: the link must not wait on the sync's lock while a roster is applied.
        let takes_timetables = roster.as_ref().is_some_and(|r| r.takes_timetables());
        let roster = roster.map(|r| Arc::new(Mutex::new(r)));
        let task = tokio::spawn(link::run(
            settings,
            outbox,
            status,
            roster,
            takes_timetables,
            stop.clone(),
            link_tx,
        ));
        Ok(Mqtt { task, stop, link })
    }

    /// The connection's state now.
    pub fn link(&self) -> LinkState {
        self.link.borrow().clone()
    }

    /// A watch on the connection's state, for readers on other threads (the health check).
    pub fn link_watch(&self) -> watch::Receiver<LinkState> {
        self.link.clone()
    }

    /// Waits until the connection state satisfies `until`, at most `timeout`; returns the last state.
    pub async fn wait_for(&mut self, timeout: Duration, until: impl Fn(&LinkState) -> bool) -> LinkState {
        let _ = tokio::time::timeout(timeout, self.link.wait_for(|s| until(s))).await;
        self.link()
    }

    /// Says goodbye: publishes the offline status, disconnects, and returns within a few seconds
    /// even when the broker is unreachable. Undelivered events stay in the outbox for next time.
    pub async fn shutdown(self) {
        self.stop.trigger();
        let mut task = self.task;
        if tokio::time::timeout(link::GOODBYE_TIMEOUT + Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_password_and_client_key_come_from_credentials_when_no_file_is_named() {
        let dir = std::env::temp_dir().join(format!("rollcall-credentials-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
            path
        };
        let mut m = MqttConfig {
            username: Some("room-101".into()),
            password_env: "ROLLCALL_TEST_NO_SUCH_VARIABLE".into(),
            ..MqttConfig::default()
        };
        assert!(matches!(password(&m, Some(&dir)), Err(MqttError::NoPassword(_))));
        secret(PASSWORD_CREDENTIAL, "from-the-credential\nsecond line ignored\n");
        assert_eq!(password(&m, Some(&dir)).unwrap().as_str(), "from-the-credential");
        m.password_file = Some(secret("named.password", "from-the-file\n"));
        assert_eq!(
            password(&m, Some(&dir)).unwrap().as_str(),
            "from-the-file",
            "a named file wins"
        );
        m.password_file = Some(dir.join("open.password"));
        std::fs::write(dir.join("open.password"), "x").unwrap();
        std::fs::set_permissions(dir.join("open.password"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            password(&m, Some(&dir)).is_err(),
            "a password others can read is refused"
        );

        let mut tls = crate::config::TlsConfig::default();
        assert_eq!(client_key_file(&tls, Some(&dir)), None);
        let key = secret(CLIENT_KEY_CREDENTIAL, "-----BEGIN PRIVATE KEY-----\n");
        assert_eq!(client_key_file(&tls, Some(&dir)), Some(key));
        tls.client_key = Some(PathBuf::from("/etc/rollcall/room-101.key"));
        assert_eq!(client_key_file(&tls, Some(&dir)), tls.client_key);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
