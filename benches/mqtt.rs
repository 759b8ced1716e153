//! Delivery through the outbox to a local mosquitto (started here on a free 127.0.0.1 port):
//! the sustained rate with QoS 1 while events are being recorded, and how long a backlog of
//! 10 000 events takes to drain once the broker comes back.
//!
//!     cargo bench --bench mqtt
//!
//! Durability as in production: every event is committed with `synchronous = FULL` (an fsync
//! per event, before anything is published); delivery marks are committed in batches with
//! `synchronous = NORMAL` (a lost mark only means one more duplicate delivery).

use std::path::Path;
use std::time::{Duration, Instant};

use rollcall::config::MqttConfig;
use rollcall::store::{Key, Outbox, Store};
use rollcall::sync::mqtt::{Mqtt, MqttSettings};
use rollcall::sync::status::StatusBoard;

fn record(store: &Store, from: usize, n: usize) -> Duration {
    let t = Instant::now();
    for i in from..from + n {
        if let Err(e) = store.record_attendance(
            &testkit::events::attendance(&format!("p{i:05}"), "bench"),
            &format!("k{i}"),
        ) {
            panic!("recording failed: {e}");
        }
    }
    t.elapsed()
}

fn spawn(runtime: &tokio::runtime::Runtime, db: &Path, port: u16) -> Mqtt {
    let config = MqttConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        reconnect_min_s: 0.1,
        reconnect_max_s: 0.5,
        ..MqttConfig::default()
    };
    let settings = match MqttSettings::new(&config, "bench", "bench") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let outbox = match Outbox::open(db) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    runtime.block_on(async { Mqtt::spawn(settings, outbox, StatusBoard::new("bench"), None).unwrap() })
}

fn run(runtime: &tokio::runtime::Runtime, dir: &Path, extra: &str) {
    // 1. Sustained: record 5000 events as fast as the disk allows while they are published.
    let mut broker = testkit::broker::Broker::start_with("bench", extra);
    let db = dir.join("sustained.db");
    let store = Store::open(&db, Key::generate()).expect("store");
    let mut mqtt = spawn(runtime, &db, broker.port);
    runtime.block_on(mqtt.wait_for(Duration::from_secs(10), |s| s.connected));
    const N: usize = 5000;
    let start = Instant::now();
    let recording = record(&store, 0, N);
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(120), |s| s.delivered >= N as u64));
    let all = start.elapsed();
    println!(
        "  sustained: {N} events recorded in {:.2} s ({:.0}/s, fsync per event) and all {} acknowledged after {:.2} s: {:.0} events/s end to end with QoS 1",
        recording.as_secs_f64(),
        N as f64 / recording.as_secs_f64(),
        link.delivered,
        all.as_secs_f64(),
        link.delivered as f64 / all.as_secs_f64()
    );
    runtime.block_on(mqtt.shutdown());

    // 2. Backlog: 10 000 events queued while the broker is down, then the broker returns.
    const BACKLOG: usize = 10_000;
    let db = dir.join("backlog.db");
    let store = Store::open(&db, Key::generate()).expect("store");
    broker.stop();
    let mut mqtt = spawn(runtime, &db, broker.port);
    let queued_in = record(&store, 0, BACKLOG);
    let back = Instant::now();
    broker.restart();
    let link = runtime.block_on(mqtt.wait_for(Duration::from_secs(300), |s| s.delivered >= BACKLOG as u64));
    let drained = back.elapsed();
    let left = Outbox::open(&db)
        .and_then(|o| o.depth())
        .map(|d| d.pending)
        .unwrap_or(u64::MAX);
    println!(
        "  backlog: {BACKLOG} events queued in {:.2} s while the broker was down; from the broker's restart to an empty outbox: {:.2} s ({:.0} events/s), {} left pending",
        queued_in.as_secs_f64(),
        drained.as_secs_f64(),
        link.delivered as f64 / drained.as_secs_f64(),
        left
    );
    runtime.block_on(mqtt.shutdown());
}

fn main() {
    if !testkit::bench::asked_to_measure() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rollcall-bench-mqtt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");

    for (i, (label, extra)) in [
        ("mosquitto as shipped (Nagle on)", ""),
        ("mosquitto with set_tcp_nodelay true", "set_tcp_nodelay true\n"),
    ]
    .into_iter()
    .enumerate()
    {
        println!("{label}:");
        let run_dir = dir.join(i.to_string());
        std::fs::create_dir_all(&run_dir).expect("scratch dir");
        run(&runtime, &run_dir, extra);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
