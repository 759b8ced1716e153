//! One way to ask a part to stop, for threads and async tasks alike.
//!
//! The signals trigger the daemon's token; the daemon then stops its parts in order (tracks
//! decided, cameras, held decisions written, the broker told goodbye), each through a token of
//! its own. A token's children are triggered with it, so one camera can be stopped alone (on a
//! reload) or all of them at once. A blocking thread sleeps on [`Shutdown::sleep`], an async
//! task awaits [`Shutdown::triggered`]; both wake the moment the token is triggered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::lock::lock;

struct Inner {
    asked: AtomicBool,
    /// Guards nothing but the condvar's wait, so a sleeper cannot miss the trigger.
    gate: Mutex<()>,
    wake: Condvar,
    watch: tokio::sync::watch::Sender<bool>,
    children: Mutex<Vec<Shutdown>>,
}

/// A request to stop, shared by whoever asks and whoever obeys. Cloning shares it.
#[derive(Clone)]
pub struct Shutdown(Arc<Inner>);

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Shutdown").field(&self.is_triggered()).finish()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A token nobody has triggered yet.
    pub fn new() -> Shutdown {
        Shutdown(Arc::new(Inner {
            asked: AtomicBool::new(false),
            gate: Mutex::new(()),
            wake: Condvar::new(),
            watch: tokio::sync::watch::Sender::new(false),
            children: Mutex::new(Vec::new()),
        }))
    }

    /// A token triggered with this one, or on its own.
    pub fn child(&self) -> Shutdown {
        let child = Shutdown::new();
        let mut children = lock(&self.0.children);
        // Checked under the lock that `trigger` takes, so a child made while the parent is
        // being triggered is triggered too.
        if self.is_triggered() {
            child.trigger();
        }
        // Children stopped on their own (cameras removed by reloads) are let go, so the list
        // stays as long as the parts alive, however many reloads there are.
        children.retain(|c| !c.is_triggered());
        children.push(child.clone());
        child
    }

    /// Asks to stop: wakes every sleeper and waiter, and triggers the children. Idempotent.
    pub fn trigger(&self) {
        {
            let _gate = lock(&self.0.gate);
            self.0.asked.store(true, Ordering::Release);
        }
        self.0.wake.notify_all();
        self.0.watch.send_replace(true);
        let children = std::mem::take(&mut *lock(&self.0.children));
        children.iter().for_each(Shutdown::trigger);
    }

    /// Whether stopping was asked.
    pub fn is_triggered(&self) -> bool {
        self.0.asked.load(Ordering::Acquire)
    }

    /// Sleeps up to `d`, or less if triggered meanwhile; returns whether it was triggered.
    pub fn sleep(&self, d: Duration) -> bool {
        let gate = lock(&self.0.gate);
        let _ = self.0.wake.wait_timeout_while(gate, d, |_| !self.is_triggered());
        self.is_triggered()
    }

    /// Returns once triggered (at once if it already was).
    pub async fn triggered(&self) {
        let mut rx = self.0.watch.subscribe();
        let _ = rx.wait_for(|asked| *asked).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_trigger_wakes_a_sleeper_at_once_and_reaches_the_children() {
        let root = Shutdown::new();
        let (a, b) = (root.child(), root.child());
        b.trigger();
        assert!(
            b.is_triggered() && !a.is_triggered() && !root.is_triggered(),
            "a child stops alone"
        );
        let sleeper = {
            let a = a.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (a.sleep(Duration::from_secs(30)), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        root.trigger();
        let (woken, slept) = sleeper.join().unwrap();
        assert!(woken && slept < Duration::from_secs(5), "{slept:?}");
        assert!(
            root.child().is_triggered(),
            "a child of a triggered token starts triggered"
        );
        assert!(!Shutdown::new().sleep(Duration::from_millis(1)));
    }

    #[test]
    fn an_async_waiter_wakes_too() {
        let token = Shutdown::new();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let t = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            t.trigger();
        });
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), token.triggered())
                .await
                .unwrap();
        });
        // Already triggered: returns at once.
        runtime.block_on(token.triggered());
    }
}
