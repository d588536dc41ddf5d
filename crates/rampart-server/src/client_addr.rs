//! Who is on the other end: the client's address and whether it reached us over HTTPS.
//!
//! The socket peer is the client, unless the peer is one of `trusted_proxies`: then, and
//! only then, `X-Forwarded-For` (or `Forwarded`) is read from the right, skipping further
//! trusted proxies, and the first address that is not one is the client. A client cannot
//! choose its own address by sending the header itself, because only the part appended by
//! our proxies is believed. Everything downstream (address rules, rate limits, login
//! back-off, sessions, logs) uses this one answer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::state::AppState;

/// The resolved client of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    pub ip: IpAddr,
    /// Reached over TLS (ours, or a trusted proxy's that said so).
    pub https: bool,
}

/// IPv4-mapped IPv6 addresses stand for the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// One `for=` value of a `Forwarded` element: `1.2.3.4`, `"[2001:db8::1]:443"`, `1.2.3.4:80`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"');
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = node.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split(']').next())
        .and_then(|inner| inner.parse().ok())
}

/// The forwarding chain, leftmost (furthest from us) first. `None` when a header is present
/// but malformed: then nothing in it is believed.
fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let xff: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !xff.is_empty() {
        return xff
            .iter()
            .flat_map(|v| v.split(','))
            .map(parse_node)
            .collect();
    }
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .map(|element| {
            element
                .split(';')
                .find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then_some(v)
                })
                .and_then(parse_node)
        })
        .collect()
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    if let Some(proto) = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        return proto
            .split(',')
            .next_back()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|element| {
            element.split(';').any(|pair| {
                pair.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("proto")
                        && v.trim().trim_matches('"').eq_ignore_ascii_case("https")
                })
            })
        })
}

/// Resolves the client from the socket peer and, when the peer is trusted, the headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &[IpNet], tls: bool) -> ClientAddr {
    let peer = canonical(peer);
    if !trusted(peer, proxies) {
        return ClientAddr {
            ip: peer,
            https: tls,
        };
    }
    let https = tls || forwarded_https(headers);
    let Some(chain) = forwarded_chain(headers) else {
        return ClientAddr { ip: peer, https };
    };
    let mut client = peer;
    for ip in chain.into_iter().rev().map(canonical) {
        client = ip;
        if !trusted(ip, proxies) {
            break;
        }
    }
    ClientAddr { ip: client, https }
}

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let client = resolve(
        peer,
        req.headers(),
        &state.config.trusted_proxies,
        state.config.tls.is_some(),
    );
    req.extensions_mut().insert(client);
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(client_of(parts))
    }
}

/// The client of a request that went through [`middleware`] (unspecified otherwise).
pub fn client_of(parts: &Parts) -> ClientAddr {
    parts
        .extensions
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr {
            ip: IpAddr::from([0, 0, 0, 0]),
            https: false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = resolve(ip("203.0.113.7"), &h, &[], false);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("203.0.113.7"),
                https: false
            }
        );
        let proxies = ["10.0.0.0/8".parse().unwrap_or(IpNet::from(ip("10.0.0.1")))];
        let c = resolve(ip("203.0.113.7"), &h, &proxies, false);
        assert_eq!(c.ip, ip("203.0.113.7"));
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or(IpNet::from(ip("10.0.0.1")))];
        // The client forged "1.1.1.1"; our proxy appended the address it really saw.
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 198.51.100.4"),
            ("x-forwarded-proto", "https"),
        ]);
        let c = resolve(ip("10.0.0.5"), &h, &proxies, false);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("198.51.100.4"),
                https: true
            }
        );
        // Two proxies deep, both trusted.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.4, 10.0.0.9")]);
        assert_eq!(
            resolve(ip("10.0.0.5"), &h, &proxies, false).ip,
            ip("198.51.100.4")
        );
        // The RFC 7239 header, IPv6 with a port.
        let h = headers(&[("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#)]);
        let c = resolve(ip("::ffff:10.0.0.5"), &h, &proxies, false);
        assert_eq!(
            c,
            ClientAddr {
                ip: ip("2001:db8::7"),
                https: true
            }
        );
        // Malformed: nothing in it is believed.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, not-an-address")]);
        assert_eq!(
            resolve(ip("10.0.0.5"), &h, &proxies, false).ip,
            ip("10.0.0.5")
        );
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(
            resolve(ip("10.0.0.5"), &HeaderMap::new(), &proxies, false).ip,
            ip("10.0.0.5")
        );
    }
}
