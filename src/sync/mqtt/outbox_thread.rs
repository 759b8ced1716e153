//! The outbox on a thread of its own.
//!
//! The MQTT runtime has one worker thread, shared by the controller and rumqttc's event loop. A
//! SQLite call on it (a slow disk, a write lock held elsewhere for the 5 s busy timeout) would stop
//! keep-alives, acknowledgement timeouts and status updates for as long as it takes. So the link
//! never touches the database: it asks this thread and carries on, and the answer comes back on a
//! channel the link selects on. At most one question of each kind is outstanding, so the queue
//! stays a handful of entries however slow the disk is.

use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::Topics;
use crate::store::{Maintenance, Outbox, OutboxDepth, OutboxLimits, OutboxRow, StoreError};

/// A question for the outbox thread.
enum Ask {
    /// Rows after `after`, at most `limit`, for connection number `connection`.
    Next { connection: u64, after: i64, limit: usize },
    /// Mark these rows delivered.
    Delivered(Vec<i64>),
    /// How much is waiting.
    Measure,
    /// Enforce the bounds and retention.
    Maintain,
}

/// Rows ready to publish, read for one connection.
#[derive(Debug)]
pub(super) struct NextRows {
    /// The connection that asked: rows read for an earlier one are stale.
    pub connection: u64,
    /// Publishable rows, oldest first, each with its topic.
    pub rows: Vec<(String, OutboxRow)>,
    /// The highest row read, including rows set aside: the cursor once all `rows` are sent.
    pub read_up_to: Option<i64>,
}

/// An answer from the outbox thread.
#[derive(Debug)]
pub(super) enum Answer {
    /// Rows to publish.
    Next(Result<NextRows, StoreError>),
    /// The rows were marked delivered, or not (they are handed back to try again).
    Delivered(Vec<i64>, Result<(), StoreError>),
    /// The depth.
    Measured(Result<OutboxDepth, StoreError>),
    /// A maintenance pass.
    Maintained(Result<Maintenance, StoreError>),
}

/// The link's handle on the outbox thread.
pub(super) struct OutboxThread {
    asks: Option<std_mpsc::Sender<Ask>>,
    answers: mpsc::UnboundedReceiver<Answer>,
    /// Questions asked and not answered yet, one flag per kind.
    reading: bool,
    marking: bool,
    measuring: bool,
    maintaining: bool,
}

/// What the thread needs to set unpublishable rows aside by itself.
pub(super) struct Publishing {
    pub topics: Topics,
    pub device: String,
    pub limits: OutboxLimits,
}

impl OutboxThread {
    /// Moves `outbox` onto a new thread. The thread ends when the handle is closed or dropped,
    /// after answering what it was asked.
    pub fn start(outbox: Outbox, publishing: Publishing) -> std::io::Result<OutboxThread> {
        let (asks, asked) = std_mpsc::channel();
        let (answer, answers) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("rollcall-outbox".into())
            .spawn(move || serve(outbox, publishing, asked, answer))?;
        Ok(OutboxThread {
            asks: Some(asks),
            answers,
            reading: false,
            marking: false,
            measuring: false,
            maintaining: false,
        })
    }

    fn ask(&self, ask: Ask) -> bool {
        self.asks.as_ref().is_some_and(|a| a.send(ask).is_ok())
    }

    /// Asks for up to `limit` rows after `after`, unless rows are being read already.
    pub fn read_next(&mut self, connection: u64, after: i64, limit: usize) {
        if !self.reading && limit > 0 {
            self.reading = self.ask(Ask::Next {
                connection,
                after,
                limit,
            });
        }
    }

    /// Hands over acknowledged rows to mark delivered, unless a mark is being written: then they
    /// stay in `acked` for the next call.
    pub fn mark_delivered(&mut self, acked: &mut Vec<i64>) {
        if !self.marking && !acked.is_empty() {
            self.marking = self.ask(Ask::Delivered(std::mem::take(acked)));
        }
    }

    /// Asks for the depth, unless it is being measured.
    pub fn measure(&mut self) {
        if !self.measuring {
            self.measuring = self.ask(Ask::Measure);
        }
    }

    /// Asks for a maintenance pass, unless one is running.
    pub fn maintain(&mut self) {
        if !self.maintaining {
            self.maintaining = self.ask(Ask::Maintain);
        }
    }

    /// The next answer. Never ready once the thread is gone.
    pub async fn answer(&mut self) -> Answer {
        match self.answers.recv().await {
            Some(answer) => {
                match &answer {
                    Answer::Next(_) => self.reading = false,
                    Answer::Delivered(..) => self.marking = false,
                    Answer::Measured(_) => self.measuring = false,
                    Answer::Maintained(_) => self.maintaining = false,
                }
                answer
            }
            None => std::future::pending().await,
        }
    }

    /// Asks nothing more and returns the answers still to come, waiting for them at most
    /// `timeout`.
    pub async fn close(&mut self, timeout: std::time::Duration) -> Vec<Answer> {
        self.asks = None;
        let mut left = Vec::new();
        let _ = tokio::time::timeout(timeout, async {
            while let Some(a) = self.answers.recv().await {
                left.push(a);
            }
        })
        .await;
        left
    }
}

/// The thread: answers each question in turn until the link hangs up.
fn serve(
    mut outbox: Outbox,
    publishing: Publishing,
    asked: std_mpsc::Receiver<Ask>,
    answer: mpsc::UnboundedSender<Answer>,
) {
    for ask in asked {
        let a = match ask {
            Ask::Next {
                connection,
                after,
                limit,
            } => Answer::Next(next_rows(&mut outbox, &publishing, connection, after, limit)),
            Ask::Delivered(seqs) => {
                let done = outbox.mark_delivered(&seqs);
                Answer::Delivered(seqs, done)
            }
            Ask::Measure => Answer::Measured(outbox.depth()),
            Ask::Maintain => Answer::Maintained(outbox.maintain(&publishing.limits, &publishing.device)),
        };
        if answer.send(a).is_err() {
            return;
        }
    }
}

/// Reads the next rows and sets aside those the broker cannot take: retrying one would hold
/// back every row behind it, for ever.
fn next_rows(
    outbox: &mut Outbox,
    publishing: &Publishing,
    connection: u64,
    after: i64,
    limit: usize,
) -> Result<NextRows, StoreError> {
    let read = outbox.pending_after(after, limit)?;
    let read_up_to = read.last().map(|r| r.seq);
    let mut rows = Vec::with_capacity(read.len());
    for row in read {
        let topic = publishing.topics.event(row.kind).to_string();
        match unpublishable(&topic, &row.payload) {
            Some(reason) => {
                outbox.set_aside(&row, &reason, &publishing.device)?;
                tracing::error!(event_id = %crate::untrusted::summary(&row.event_id), %reason, "outbox row set aside");
            }
            None => rows.push((topic, row)),
        }
    }
    Ok(NextRows {
        connection,
        rows,
        read_up_to,
    })
}

/// Why the broker could not take a publish of `payload` on `topic`, if it could not.
fn unpublishable(topic: &str, payload: &str) -> Option<String> {
    if !rumqttc::valid_topic(topic) {
        return Some(format!("`{}` is not a valid topic", crate::untrusted::summary(topic)));
    }
    // Fixed header (at most 5 bytes), topic length and name, packet id, payload, and the
    // device's signature added to it.
    let size = 5 + 2 + topic.len() + 2 + payload.len() + super::signed::OVERHEAD;
    (size > super::MAX_OUTGOING).then(|| {
        format!(
            "a packet of {size} bytes is above the limit of {} bytes",
            super::MAX_OUTGOING
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_the_broker_cannot_take_are_named() {
        assert_eq!(unpublishable("a/b/attendance", "{}"), None);
        assert!(unpublishable("a/+/attendance", "{}").is_some_and(|r| r.contains("not a valid topic")));
        let big = "x".repeat(super::super::MAX_OUTGOING);
        assert!(unpublishable("a/b/attendance", &big).is_some_and(|r| r.contains("above the limit")));
    }
}
