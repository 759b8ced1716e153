//! `[metrics]`: the opt-in HTTP endpoint for Prometheus (`/metrics`) and health checks
//! (`/healthz`).

use serde::Deserialize;

/// Where to serve metrics. The endpoint has no authentication and shows counts only (no names,
/// no images), so the example binds it to loopback; a Prometheus on another host needs an
/// address it can reach, and a firewall that lets only it in.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address and port to listen on, e.g. `127.0.0.1:9464`.
    pub listen: std::net::SocketAddr,
}
