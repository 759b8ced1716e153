//! A real mosquitto for the tests: started on a free 127.0.0.1 port, with persistence so that
//! stopping and starting it keeps subscribers' sessions, and handles to stop, restart, freeze
//! and thaw it. Plus a subscriber that records everything it receives.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A mosquitto process owned by a test.
pub struct Broker {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    l.local_addr().expect("no local address").port()
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

impl Broker {
    /// Starts a broker for the test `name`, configured as mosquitto ships.
    pub fn start(name: &str) -> Broker {
        Broker::start_with(name, "")
    }

    /// Starts a broker with `extra` lines appended to its config.
    pub fn start_with(name: &str, extra: &str) -> Broker {
        let dir = std::env::temp_dir().join(format!("rollcall-broker-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Started as root, mosquitto drops to its own user; it must still be able to save its
        // state (the subscribers' sessions) here.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let port = free_port();
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
             autosave_interval 1\nmax_queued_messages 0\nlog_dest file {}/mosquitto.log\n\
             log_type error\nlog_type warning\nlog_type notice\n{extra}",
            dir.display(),
            dir.display()
        );
        std::fs::write(dir.join("mosquitto.conf"), conf).unwrap();
        let mut b = Broker { port, dir, child: None };
        b.restart();
        b
    }

    /// Starts it again (after [`Broker::stop`]) on the same port, with its saved state.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is already running");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mosquitto ({e}); run scripts/setup.sh --test-extras"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops it the way an admin would (SIGTERM): it saves its state and exits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGTERM);
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): the socket stays open, nothing is answered.
    pub fn freeze(&self) {
        signal(self.child.as_ref().expect("broker not running"), libc::SIGSTOP);
    }

    /// Unfreezes it (SIGCONT).
    pub fn thaw(&self) {
        signal(self.child.as_ref().expect("broker not running"), libc::SIGCONT);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, libc::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A device's `[mqtt]` for tests, on the broker at `port`: quick to notice trouble and to come
/// back.
pub fn device_config(port: u16) -> rollcall::config::MqttConfig {
    rollcall::config::MqttConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        keep_alive_s: 5,
        ack_timeout_s: 3,
        reconnect_min_s: 0.2,
        reconnect_max_s: 1.0,
        status_interval_s: 5,
        ..rollcall::config::MqttConfig::default()
    }
}

/// One message received: topic, payload, retained flag.
pub type Message = (String, Vec<u8>, bool);

/// A subscriber that keeps everything it receives, reconnecting through broker restarts.
pub struct Subscriber {
    messages: Arc<Mutex<Vec<Message>>>,
    client: rumqttc::Client,
}

impl Subscriber {
    /// Subscribes to `filters` with QoS 1 and returns once the broker confirmed it. A
    /// `persistent` subscriber keeps its session (and its queued messages) across broker
    /// restarts and its own reconnects.
    pub fn start(port: u16, client_id: &str, filters: &[&str], persistent: bool) -> Subscriber {
        Subscriber::start_as(port, client_id, None, filters, persistent)
    }

    /// [`Subscriber::start`], logged in as `login` (user name, password) when given.
    pub fn start_as(
        port: u16,
        client_id: &str,
        login: Option<(&str, &str)>,
        filters: &[&str],
        persistent: bool,
    ) -> Subscriber {
        let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        options
            .set_clean_session(!persistent)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(64 << 20, 64 << 20);
        let (client, mut connection) = rumqttc::Client::new(options, 64);
        for f in filters {
            client.subscribe(*f, rumqttc::QoS::AtLeastOnce).unwrap();
        }
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed) = std::sync::mpsc::channel();
        let store = messages.clone();
        std::thread::spawn(move || {
            let mut subacks = 0;
            for ev in connection.iter() {
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Incoming::Publish(p))) => {
                        store
                            .lock()
                            .unwrap()
                            .push((p.topic.clone(), p.payload.to_vec(), p.retain));
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Incoming::SubAck(_))) => {
                        subacks += 1;
                        if subacks == 1 {
                            let _ = subscribed_tx.send(());
                        }
                    }
                    Ok(_) => {}
                    // Broker down: keep trying, as a backend would.
                    Err(rumqttc::ConnectionError::RequestsDone) => return,
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        subscribed
            .recv_timeout(Duration::from_secs(10))
            .expect("the subscription was not confirmed");
        Subscriber { messages, client }
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits until `until` holds for the messages so far, at most `timeout`; returns them.
    pub fn wait_for(&self, timeout: Duration, until: impl Fn(&[Message]) -> bool) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if until(&m) || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Publishes `payload` (QoS 1) as the backend would.
    pub fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, retain, payload)
            .unwrap();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}
