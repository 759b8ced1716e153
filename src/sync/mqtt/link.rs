//! The connection loop: connect, drain the outbox, keep the status fresh, take rosters; on any
//! loss, back off and start over from the outbox.
//!
//! The loop never waits on the database: the outbox lives on its own thread
//! ([`super::outbox_thread`]), which it asks and whose answers it selects on.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Incoming, Outgoing, QoS, StateError};
use tokio::sync::{mpsc, watch};

use super::outbox_thread::{Answer, NextRows, OutboxThread};
use super::{Inbound, LinkState, MqttSettings};
use crate::backoff::Backoff;
use crate::shutdown::Shutdown;
use crate::sync::roster::{RosterOutcome, RosterSync};
use crate::sync::status::{OutboxStatus, StatusBoard, offline_payload};

/// How long a graceful shutdown waits for the broker to take the offline status.
pub(super) const GOODBYE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often acknowledgements are written, the outbox topped up and timeouts checked.
const TICK: Duration = Duration::from_millis(200);
/// How often the outbox's depth is measured for the status.
const DEPTH_EVERY: Duration = Duration::from_secs(1);
/// How often the outbox's bounds and retention are enforced.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);
/// After a roster too big to read, how long before the roster topics are subscribed again (each
/// try costs a reconnect while the oversized message stays retained).
const ROSTER_RETRY: Duration = Duration::from_secs(300);

/// A publish handed to the client, waiting for its packet id and then its acknowledgement.
#[derive(Debug, Clone, Copy)]
enum Sent {
    /// An outbox row.
    Event { seq: i64, at: Instant },
    /// A status update.
    Status { at: Instant },
}

impl Sent {
    fn at(&self) -> Instant {
        match self {
            Sent::Event { at, .. } | Sent::Status { at } => *at,
        }
    }
}

/// Why a connection ended.
enum End {
    /// Asked to stop; goodbye said.
    Stopped,
    /// Lost, for this reason.
    Lost(String),
}

/// What one connection keeps: nothing of it survives the connection.
struct Connection {
    /// Which connection this is, to know outbox rows read for an earlier one.
    number: u64,
    client: AsyncClient,
    /// Publishes handed to the client, in order, whose packet id is not known yet.
    requested: VecDeque<Sent>,
    /// Publishes sent, by packet id, waiting for PUBACK.
    awaiting: HashMap<u16, Sent>,
    /// Outbox rows in `requested` or `awaiting`.
    events_in_flight: usize,
    /// Highest outbox row handed to the client.
    cursor: i64,
    /// Subscribed to the roster topics.
    roster_subscribed: bool,
    /// The broker accepted the connection (CONNACK).
    connected: bool,
}

/// Shared, long-lived parts of the loop.
struct Link {
    settings: MqttSettings,
    outbox: OutboxThread,
    /// Outbox rows acknowledged, not yet marked delivered. Kept across connections: an
    /// acknowledgement stays true after the connection that carried it is gone.
    acked: Vec<i64>,
    /// Connections made, numbering each [`Connection`].
    connections: u64,
    /// The last summing-up of refused rosters, while it runs.
    summing: Option<tokio::task::JoinHandle<()>>,
    status: StatusBoard,
    roster: Option<Arc<Mutex<RosterSync>>>,
    /// The roster sync also takes timetables: subscribe to their topics too.
    takes_timetables: bool,
    state: watch::Sender<LinkState>,
    /// The status last published, without its uptime, to publish again only on change.
    last_status: Option<String>,
    last_status_at: Instant,
    /// Roster topics are left alone until then, after an oversized roster.
    roster_paused_until: Option<Instant>,
}

/// Runs until `stop` is triggered.
pub(super) async fn run(
    settings: MqttSettings,
    outbox: OutboxThread,
    status: StatusBoard,
    roster: Option<Arc<Mutex<RosterSync>>>,
    takes_timetables: bool,
    stop: Shutdown,
    state: watch::Sender<LinkState>,
) {
    let seed = settings
        .device
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    let mut backoff = Backoff::new(settings.reconnect_min, settings.reconnect_max, seed);
    let mut link = Link {
        settings,
        outbox,
        acked: Vec::new(),
        connections: 0,
        summing: None,
        status,
        roster,
        takes_timetables,
        state,
        last_status: None,
        last_status_at: Instant::now(),
        roster_paused_until: None,
    };
    link.outbox.maintain();
    loop {
        if stop.is_triggered() {
            return link.close().await;
        }
        let (host, port) = link.settings.options.broker_address();
        match link.connect_and_serve(&stop, &mut backoff).await {
            End::Stopped => return link.close().await,
            End::Lost(reason) => {
                link.state.send_modify(|s| {
                    if s.connected {
                        s.losses += 1;
                    }
                    s.connected = false;
                    s.last_error = Some(reason.clone());
                });
                let delay = backoff.next_delay();
                tracing::warn!(broker = %format!("{host}:{port}"), %reason, retry_in_s = delay.as_secs_f32(), "MQTT connection lost");
                let wake = tokio::time::sleep(delay);
                tokio::pin!(wake);
                loop {
                    tokio::select! {
                        _ = &mut wake => break,
                        _ = stop.triggered() => return link.close().await,
                        answer = link.outbox.answer() => link.answered(None, answer),
                    }
                }
            }
        }
    }
}

/// Reads one event after another off the event loop, on its own task, so the controller can
/// wait on it alongside timers without ever cancelling a read half-way.
fn pump(
    mut eventloop: EventLoop,
) -> (
    mpsc::Receiver<Result<Event, ConnectionError>>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(async move {
        loop {
            let ev = eventloop.poll().await;
            let failed = ev.is_err();
            if tx.send(ev).await.is_err() || failed {
                return;
            }
        }
    });
    (rx, task)
}

/// The size of a message too big to read, if that is what `e` is.
fn oversized(e: &ConnectionError) -> Option<usize> {
    match e {
        ConnectionError::MqttState(StateError::Deserialization(rumqttc::Error::PayloadSizeLimitExceeded(n))) => {
            Some(*n)
        }
        _ => None,
    }
}

impl Link {
    async fn connect_and_serve(&mut self, stop: &Shutdown, backoff: &mut Backoff) -> End {
        let (client, mut eventloop) = AsyncClient::new(self.settings.options.clone(), self.settings.max_inflight + 16);
        // Small packets, each waited on: Nagle's algorithm would hold them back for the broker's
        // delayed ACK.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        let (mut events, pump_task) = pump(eventloop);
        self.connections += 1;
        let mut conn = Connection {
            number: self.connections,
            client,
            requested: VecDeque::new(),
            awaiting: HashMap::new(),
            events_in_flight: 0,
            cursor: 0,
            roster_subscribed: false,
            connected: false,
        };
        let end = self.serve(&mut conn, &mut events, stop, backoff).await;
        self.outbox.mark_delivered(&mut self.acked);
        pump_task.abort();
        end
    }

    async fn serve(
        &mut self,
        conn: &mut Connection,
        events: &mut mpsc::Receiver<Result<Event, ConnectionError>>,
        stop: &Shutdown,
        backoff: &mut Backoff,
    ) -> End {
        let mut tick = tokio::time::interval(TICK);
        let mut last_depth = Instant::now() - DEPTH_EVERY;
        let mut last_maintain = Instant::now();
        loop {
            tokio::select! {
                _ = stop.triggered() => {
                    if conn.connected {
                        self.goodbye(conn, events).await;
                    }
                    return End::Stopped;
                }
                ev = events.recv() => match ev {
                    Some(Ok(ev)) => self.on_event(conn, ev, backoff).await,
                    Some(Err(e)) => {
                        if let Some(size) = oversized(&e) {
                            self.roster_too_big(size).await;
                            return End::Lost(format!("a roster message of {size} bytes is over the limit; roster topics paused"));
                        }
                        return End::Lost(e.to_string());
                    }
                    None => return End::Lost("the MQTT event loop stopped".into()),
                },
                answer = self.outbox.answer() => self.answered(Some(&mut *conn), answer),
                _ = tick.tick() => {
                    // The outbox is measured and kept in bounds whether or not the broker is there.
                    let measure = last_depth.elapsed() >= DEPTH_EVERY;
                    if measure {
                        last_depth = Instant::now();
                        self.outbox.measure();
                        self.sum_up_refusals();
                    }
                    if last_maintain.elapsed() >= MAINTAIN_EVERY {
                        last_maintain = Instant::now();
                        self.outbox.maintain();
                    }
                    if let Some(end) = self.on_tick(conn, measure) {
                        return end;
                    }
                }
            }
        }
    }

    /// Acts on one event of the connection.
    async fn on_event(&mut self, conn: &mut Connection, ev: Event, backoff: &mut Backoff) {
        match ev {
            Event::Incoming(Incoming::ConnAck(_)) => {
                conn.connected = true;
                backoff.reset();
                self.state.send_modify(|s| {
                    s.connected = true;
                    s.connects += 1;
                });
                tracing::info!(status = %self.settings.topics.status, "MQTT connected");
                self.last_status = None;
                self.publish_status(conn, true);
                self.subscribe_rosters(conn);
                self.drain(conn);
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                // The client sends publishes in the order they were handed to it.
                if let Some(sent) = conn.requested.pop_front() {
                    conn.awaiting.insert(pkid, sent);
                }
            }
            Event::Incoming(Incoming::PubAck(ack)) => {
                if let Some(Sent::Event { seq, .. }) = conn.awaiting.remove(&ack.pkid) {
                    conn.events_in_flight -= 1;
                    self.acked.push(seq);
                    if conn.events_in_flight <= self.settings.max_inflight / 2 {
                        self.outbox.mark_delivered(&mut self.acked);
                        self.drain(conn);
                    }
                }
            }
            Event::Incoming(Incoming::Publish(p)) => {
                if let Some(kind) = self.settings.topics.inbound(&p.topic) {
                    self.take_inbound(kind, p.topic.clone(), p.payload.to_vec()).await;
                }
            }
            _ => {}
        }
    }

    /// The connection's chores on each tick, once connected: the acknowledgement timeout,
    /// delivery marks, the next rows, the status (when `measure`d) and a paused roster
    /// subscription. Returns how the connection ends, if it must.
    fn on_tick(&mut self, conn: &mut Connection, measure: bool) -> Option<End> {
        if !conn.connected {
            return None;
        }
        if let Some(oldest) = conn.requested.iter().chain(conn.awaiting.values()).map(Sent::at).min()
            && oldest.elapsed() > self.settings.ack_timeout
        {
            return Some(End::Lost(format!(
                "the broker acknowledged nothing for {} s (ack_timeout_s)",
                self.settings.ack_timeout.as_secs()
            )));
        }
        self.outbox.mark_delivered(&mut self.acked);
        self.drain(conn);
        if measure {
            self.publish_status(conn, false);
        }
        if !conn.roster_subscribed && self.roster_paused_until.is_some_and(|t| Instant::now() >= t) {
            self.roster_paused_until = None;
            self.subscribe_rosters(conn);
        }
        None
    }

    /// Asks for outbox rows to fill the in-flight window; they are sent when they come
    /// ([`Link::send_rows`]).
    fn drain(&mut self, conn: &Connection) {
        let room = self.settings.max_inflight.saturating_sub(conn.events_in_flight);
        self.outbox.read_next(conn.number, conn.cursor, room);
    }

    /// Hands rows read for `conn` to the client, in order, and asks for more if they all went.
    fn send_rows(&mut self, conn: &mut Connection, next: NextRows) {
        if next.connection != conn.number {
            // Read for a connection that is gone: this one reads from its own cursor.
            return self.drain(conn);
        }
        for (topic, row) in next.rows {
            let payload = self.signed(&topic, row.payload.into_bytes());
            if conn
                .client
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .is_err()
            {
                // The client's queue is full: the rest are read again from the cursor.
                return;
            }
            conn.requested.push_back(Sent::Event {
                seq: row.seq,
                at: Instant::now(),
            });
            conn.events_in_flight += 1;
            conn.cursor = row.seq;
        }
        if let Some(seq) = next.read_up_to {
            // Past the rows set aside too; and there may be more.
            conn.cursor = conn.cursor.max(seq);
            self.drain(conn);
        }
    }

    /// Acts on what the outbox thread answered. `conn` is the live connection, if any.
    fn answered(&mut self, conn: Option<&mut Connection>, answer: Answer) {
        match answer {
            Answer::Next(Ok(next)) => {
                if let Some(conn) = conn {
                    self.send_rows(conn, next);
                }
            }
            Answer::Next(Err(e)) => tracing::error!(error = %e, "cannot read the outbox"),
            Answer::Delivered(seqs, Ok(())) => {
                let n = seqs.len() as u64;
                self.state.send_modify(|s| s.delivered += n);
            }
            Answer::Delivered(seqs, Err(e)) => {
                // Tried again at the next tick. Should the daemon stop first, they go out again
                // after the next start: a duplicate with the same event_id, never a loss.
                tracing::error!(error = %e, "cannot mark events delivered");
                self.acked.extend(seqs);
            }
            Answer::Measured(Ok(depth)) => {
                let warn = self.settings.outbox_limits.warn_rows;
                self.status.update(|s| s.outbox = OutboxStatus::from_depth(depth, warn));
            }
            Answer::Measured(Err(e)) => tracing::error!(error = %e, "cannot measure the outbox"),
            Answer::Maintained(Ok(m)) => {
                if m.dropped > 0 {
                    tracing::error!(
                        dropped = m.dropped,
                        attendance = m.attendance_dropped,
                        "outbox over its bounds ([mqtt.outbox] max_events / max_age_days): oldest undelivered events dropped, alerts first; they remain in the attendance log"
                    );
                }
                self.outbox.measure();
            }
            Answer::Maintained(Err(e)) => tracing::error!(error = %e, "outbox maintenance failed"),
        }
    }

    /// Marks what was acknowledged and lets the outbox thread finish, waiting a moment for it.
    async fn close(mut self) {
        self.outbox.mark_delivered(&mut self.acked);
        for answer in self.outbox.close(Duration::from_secs(1)).await {
            self.answered(None, answer);
        }
    }

    /// `payload` for `topic`, signed by the device when it has a key.
    fn signed(&self, topic: &str, payload: Vec<u8>) -> Vec<u8> {
        match &self.settings.signer {
            Some(key) => super::signed::sign(key.signing_key(), topic, payload),
            None => payload,
        }
    }

    /// Publishes the status if it changed, if the interval passed, or if `force`d.
    fn publish_status(&mut self, conn: &mut Connection, force: bool) {
        let snapshot = self.status.snapshot();
        let mut steady = snapshot.clone();
        steady.uptime_s = 0;
        let steady = serde_json::to_string(&steady).unwrap_or_default();
        let due = self.last_status_at.elapsed() >= self.settings.status_interval;
        if !force && !due && self.last_status.as_deref() == Some(steady.as_str()) {
            return;
        }
        let topic = self.settings.topics.status.clone();
        let payload = self.signed(&topic, serde_json::to_vec(&snapshot).unwrap_or_default());
        if conn.client.try_publish(topic, QoS::AtLeastOnce, true, payload).is_ok() {
            conn.requested.push_back(Sent::Status { at: Instant::now() });
            self.last_status = Some(steady);
            self.last_status_at = Instant::now();
        }
    }

    fn subscribe_rosters(&mut self, conn: &mut Connection) {
        if self.roster.is_none() || !self.settings.accept_roster || self.roster_paused_until.is_some() {
            return;
        }
        let topics = &self.settings.topics;
        let mut wanted = vec![topics.site_roster.clone(), topics.device_roster.clone()];
        if self.takes_timetables {
            wanted.extend([topics.site_timetable.clone(), topics.device_timetable.clone()]);
        }
        let filters = wanted
            .into_iter()
            .map(|t| rumqttc::SubscribeFilter::new(t, QoS::AtLeastOnce));
        conn.roster_subscribed = conn.client.try_subscribe_many(filters).is_ok();
    }

    /// Applies or refuses a roster or timetable.
    async fn take_inbound(&mut self, kind: Inbound, topic: String, payload: Vec<u8>) {
        self.with_roster_sync(move |sync| sync.receive(kind.what, kind.for_device, &topic, &payload))
            .await;
    }

    /// Runs `act` on the roster sync off the async threads (it decrypts and writes the store),
    /// and puts the roster in use on the status.
    async fn with_roster_sync(
        &mut self,
        act: impl FnOnce(&mut RosterSync) -> Result<RosterOutcome, crate::store::StoreError> + Send + 'static,
    ) {
        let Some(sync) = self.roster.clone() else { return };
        let handled = tokio::task::spawn_blocking(move || {
            let mut sync = crate::lock::lock(&sync);
            let outcome = act(&mut sync);
            (outcome, sync.roster_status())
        })
        .await;
        match handled {
            Ok((Ok(_), roster)) => self.status.update(|s| s.roster = roster),
            Ok((Err(e), _)) => tracing::error!(error = %e, "cannot record the roster's outcome"),
            Err(e) => tracing::error!(error = %e, "roster handling failed"),
        }
    }

    /// Raises the alerts summing up refused messages whose window is over, off the async
    /// thread and without waiting for it. Skipped while a roster is being applied or the last
    /// summing-up still runs: it is asked again a second later.
    fn sum_up_refusals(&mut self) {
        let Some(sync) = self.roster.clone() else { return };
        if self.summing.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        self.summing = Some(tokio::task::spawn_blocking(move || {
            if let Ok(mut s) = sync.try_lock()
                && let Err(e) = s.sum_up_refusals()
            {
                tracing::error!(error = %e, "cannot record the refusals' summary");
            }
        }));
    }

    /// Refuses (with an alert) a roster that could not even be read.
    async fn roster_too_big(&mut self, size: usize) {
        self.roster_paused_until = Some(Instant::now() + ROSTER_RETRY);
        self.with_roster_sync(move |sync| sync.refuse_unread(size)).await;
    }

    /// Publishes the offline status and disconnects, waiting at most [`GOODBYE_TIMEOUT`].
    async fn goodbye(&mut self, conn: &mut Connection, events: &mut mpsc::Receiver<Result<Event, ConnectionError>>) {
        let payload = offline_payload(&self.settings.device);
        if conn
            .client
            .try_publish(self.settings.topics.status.clone(), QoS::AtLeastOnce, true, payload)
            .is_err()
        {
            return;
        }
        let deadline = tokio::time::Instant::now() + GOODBYE_TIMEOUT;
        let mut offline_pkid = None;
        let mut pending_before = conn.requested.len();
        while let Ok(Some(Ok(ev))) = tokio::time::timeout_at(deadline, events.recv()).await {
            match ev {
                Event::Outgoing(Outgoing::Publish(pkid)) if pending_before == 0 => offline_pkid = Some(pkid),
                Event::Outgoing(Outgoing::Publish(pkid)) => {
                    pending_before -= 1;
                    if let Some(sent) = conn.requested.pop_front() {
                        conn.awaiting.insert(pkid, sent);
                    }
                }
                Event::Incoming(Incoming::PubAck(ack)) if Some(ack.pkid) == offline_pkid => break,
                Event::Incoming(Incoming::PubAck(ack)) => {
                    if let Some(Sent::Event { seq, .. }) = conn.awaiting.remove(&ack.pkid) {
                        self.acked.push(seq);
                    }
                }
                _ => {}
            }
        }
        let _ = conn.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        self.state.send_modify(|s| s.connected = false);
    }
}
