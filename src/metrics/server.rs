//! A small HTTP server for `/metrics` and `/healthz`, on the daemon's tokio runtime.
//!
//! It answers GET requests one per connection and closes: that is all Prometheus and a health
//! probe need. Whatever connects is untrusted, so a request is read for at most
//! [`REQUEST_TIMEOUT`] and [`MAX_REQUEST_BYTES`], and at most [`MAX_CONNECTIONS`] are served at
//! once; a client that breaks any of these is dropped without holding anything else up.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::{Health, Metrics};
use crate::shutdown::Shutdown;

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest request read (request line and headers).
const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 16;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address is taken, not local, or not allowed.
    #[error(
        "[metrics] listen = \"{addr}\": cannot listen there: {source}. Choose a free port, or an address of this machine"
    )]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What `/healthz` reports, asked afresh on each request.
pub type HealthSource = Arc<dyn Fn() -> Health + Send + Sync>;

/// The running endpoint.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `listen` now, so a bad address fails the daemon's start, and serves on the current
    /// tokio runtime until `stop` is triggered.
    pub fn start(
        listen: SocketAddr,
        metrics: Arc<Metrics>,
        health: HealthSource,
        stop: Shutdown,
    ) -> Result<MetricsServer, ServerError> {
        let bind = |source| ServerError::Bind { addr: listen, source };
        let std_listener = std::net::TcpListener::bind(listen).map_err(bind)?;
        std_listener.set_nonblocking(true).map_err(bind)?;
        let addr = std_listener.local_addr().map_err(bind)?;
        let listener = TcpListener::from_std(std_listener).map_err(bind)?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics, health at /healthz");
        let task = tokio::spawn(serve(listener, metrics, health, stop));
        Ok(MetricsServer { addr, task })
    }

    /// Where it listens (the port chosen, when the config gave 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for the accept loop to end (after its stop token was triggered).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

async fn serve(listener: TcpListener, metrics: Arc<Metrics>, health: HealthSource, stop: Shutdown) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = stop.triggered() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: back off rather than spin.
                    tracing::warn!(error = %e, "metrics: cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue; // Dropped: closed at once.
        };
        let (metrics, health) = (metrics.clone(), health.clone());
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = answer(stream, &metrics, &health).await {
                tracing::debug!(error = %e, "metrics: request not answered");
            }
        });
    }
}

/// Reads one request and writes its answer.
async fn answer(mut stream: TcpStream, metrics: &Metrics, health: &HealthSource) -> std::io::Result<()> {
    let head = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request too slow"))??;
    let (code, content_type, body) = route(&head, metrics, health);
    let response = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    if !head.starts_with("HEAD ") {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

/// The request line and headers, up to the blank line.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && !buf.windows(2).any(|w| w == b"\n\n") {
        if buf.len() >= MAX_REQUEST_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request too long"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// The status line, content type and body for a request.
fn route(head: &str, metrics: &Metrics, health: &HealthSource) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", TEXT, "only GET and HEAD\n".into());
    }
    // A scraper may add a query (`?name[]=...`); the answer is the same.
    match target.split('?').next().unwrap_or("") {
        "/metrics" => (
            "200 OK",
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            metrics.encode(),
        ),
        "/healthz" => {
            let h = health();
            let body = serde_json::to_string_pretty(&h).unwrap_or_default() + "\n";
            let code = if h.is_ok() { "200 OK" } else { "503 Service Unavailable" };
            (code, "application/json", body)
        }
        _ => ("404 Not Found", TEXT, "try /metrics or /healthz\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::status::StatusBoard;

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(request).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn garbage_and_oversized_requests_are_dropped_and_the_next_one_is_served() {
        let stop = Shutdown::new();
        let health: HealthSource = Arc::new(|| super::super::judge_health(&StatusBoard::new("dev").snapshot(), None));
        let server = MetricsServer::start(
            "127.0.0.1:0".parse().unwrap(),
            Arc::new(Metrics::new()),
            health,
            stop.clone(),
        )
        .unwrap();
        let addr = server.addr();
        let huge = vec![b'a'; 3 * MAX_REQUEST_BYTES];
        assert_eq!(get(addr, &huge).await, "", "an endless request line gets no answer");
        let answer = get(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
        let answer = get(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.contains("rollcall_recognizer_runs_total 0"),
            "{answer}"
        );
        let answer = get(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.ends_with("\r\n\r\n"),
            "no camera yet, no body: {answer}"
        );
        stop.trigger();
        server.stopped().await;
        assert!(TcpStream::connect(addr).await.is_err(), "closed once stopped");
    }
}
