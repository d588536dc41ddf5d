//! Instance-wide client address rules (`ip_allow`, `ip_deny`, CIDR, IPv4 and IPv6), applied
//! to the socket peer before tenant resolution and authentication, so a refused address
//! costs no database work. The address judged is the resolved client
//! ([`crate::client_addr`]): behind a trusted proxy, the address the proxy saw.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::state::AppState;

/// Whether `ip` may connect: in the allow list (when there is one) and not in the deny list.
/// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
pub fn admitted(ip: IpAddr, allow: &[IpNet], deny: &[IpNet]) -> bool {
    let ip = crate::client_addr::canonical(ip);
    (allow.is_empty() || allow.iter().any(|n| n.contains(&ip)))
        && !deny.iter().any(|n| n.contains(&ip))
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let config = &state.config;
    if config.ip_allow.is_empty() && config.ip_deny.is_empty() {
        return next.run(req).await;
    }
    let client = req.extensions().get::<ClientAddr>().map(|c| c.ip);
    match client {
        Some(ip) if admitted(ip, &config.ip_allow, &config.ip_deny) => next.run(req).await,
        _ => {
            tracing::warn!(target: "rampart::security", event = "ip_refused", ip = ?client);
            metrics::counter!("rampart_security_events_total", "event" => "ip_refused")
                .increment(1);
            ApiError::forbidden("ip_refused", "requests from this address are not accepted")
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn allow_then_deny_for_both_families() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(admitted(ip("10.1.2.3"), &[], &[]));
        let allow = nets(&["10.0.0.0/8", "2001:db8::/32"]);
        let deny = nets(&["10.9.0.0/16", "2001:db8:dead::/48"]);
        assert!(admitted(ip("10.1.2.3"), &allow, &deny));
        assert!(!admitted(ip("10.9.1.1"), &allow, &deny));
        assert!(!admitted(ip("192.168.1.1"), &allow, &deny));
        assert!(admitted(ip("2001:db8::1"), &allow, &deny));
        assert!(!admitted(ip("2001:db8:dead::1"), &allow, &deny));
        assert!(admitted(ip("::ffff:10.1.2.3"), &allow, &deny), "mapped v4");
        assert!(
            !admitted(ip("::ffff:10.9.0.1"), &allow, &deny),
            "mapped v4 denied"
        );
    }
}
