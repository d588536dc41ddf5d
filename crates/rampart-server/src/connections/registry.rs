//! Who holds the listener's connections, and who gives one up when the caps are reached.
//!
//! Three caps: per address, per address range (an IPv4 /24, an IPv6 /48: what one client
//! machine or network easily has), and in all. When a new connection would pass a cap, the
//! connection that has been idle longest (no request in flight: still in its TLS handshake,
//! between requests, or dribbling a request head) in the fullest group concerned is closed
//! to make room; only when every such connection is busy with a request is the new one
//! refused. So idle sockets, however many addresses they come from, can delay a new client
//! by nothing, and a range cannot hold more than its share.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// An address range counted as one holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    V4([u8; 3]),
    V6([u16; 3]),
}

impl Range {
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Self::V4([a, b, c])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                Self::V6([s[0], s[1], s[2]])
            }
        }
    }
}

/// What the connection's own task and the registry share about it.
#[derive(Debug)]
pub struct ConnState {
    /// Requests whose answer is not fully sent yet.
    in_flight: AtomicUsize,
    /// When the connection last showed life (accepted, a byte of a request head, a request
    /// finished), as microseconds since `born`.
    last_activity: AtomicU64,
    /// Bytes of a request head have arrived and it is not complete yet.
    head_started: AtomicBool,
    /// Whether a request has been answered (the first one has a shorter deadline).
    served: AtomicBool,
    born: Instant,
    /// Closes the connection (it was chosen to make room).
    pub evicted: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            last_activity: AtomicU64::new(0),
            head_started: AtomicBool::new(false),
            served: AtomicBool::new(false),
            born: Instant::now(),
            evicted: Notify::new(),
        }
    }

    /// A state outside any registry (unit tests of the layers that use one).
    #[cfg(test)]
    pub fn detached() -> Self {
        Self::new()
    }

    pub fn touch(&self) {
        let micros = u64::try_from(self.born.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_activity.store(micros, Ordering::Relaxed);
    }

    pub fn last_activity(&self) -> Instant {
        self.born + Duration::from_micros(self.last_activity.load(Ordering::Relaxed))
    }

    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    pub fn head_started(&self) -> bool {
        self.head_started.load(Ordering::Acquire)
    }

    pub fn set_head_started(&self, started: bool) {
        self.head_started.store(started, Ordering::Release);
        self.touch();
    }

    pub fn served(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// A request has begun; the guard ends it when its answer has been sent (or dropped).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(Arc::clone(self))
    }
}

/// One request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.served.store(true, Ordering::Relaxed);
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The caps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub total: usize,
    pub per_ip: usize,
    pub per_range: usize,
}

#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    range: Range,
    state: Arc<ConnState>,
}

#[derive(Debug, Default)]
struct Inner {
    conns: HashMap<u64, Entry>,
    per_ip: HashMap<IpAddr, usize>,
    per_range: HashMap<Range, usize>,
    next_id: u64,
    /// When a cap last biting was logged (one line a second at most).
    last_logged: Option<Instant>,
}

/// Why a connection was refused, or whom it displaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bite {
    PerIp,
    PerRange,
    Total,
}

impl Bite {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerIp => "per_ip",
            Self::PerRange => "per_range",
            Self::Total => "total",
        }
    }
}

/// A listener's connections.
#[derive(Debug)]
pub struct Registry {
    caps: Caps,
    inner: Mutex<Inner>,
}

/// A connection's place in the registry; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    registry: Arc<Registry>,
    id: u64,
    pub state: Arc<ConnState>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.registry.inner.lock() {
            inner.remove(self.id);
        }
    }
}

impl Inner {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        for (map, key) in [(&mut self.per_ip, e.ip)] {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
        if let Some(n) = self.per_range.get_mut(&e.range) {
            *n -= 1;
            if *n == 0 {
                self.per_range.remove(&e.range);
            }
        }
        Some(e)
    }

    /// Closes the longest-idle connection among those `pick` admits; whether one was found.
    fn evict(&mut self, pick: impl Fn(&Entry) -> bool) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, e)| pick(e) && !e.state.busy())
            .min_by_key(|(_, e)| e.state.last_activity())
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.remove(id)) {
            Some(e) => {
                e.state.evicted.notify_one();
                true
            }
            None => false,
        }
    }

    fn count_ip(&self, ip: IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    fn count_range(&self, range: Range) -> usize {
        self.per_range.get(&range).copied().unwrap_or(0)
    }

    /// The range holding the most connections among those with an idle one.
    fn fullest_range_with_idle(&self) -> Option<Range> {
        let mut idle: HashMap<Range, usize> = HashMap::new();
        for e in self.conns.values().filter(|e| !e.state.busy()) {
            *idle.entry(e.range).or_default() += 1;
        }
        idle.into_keys().max_by_key(|r| self.count_range(*r))
    }

    fn should_log(&mut self) -> bool {
        let now = Instant::now();
        let due = self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if due {
            self.last_logged = Some(now);
        }
        due
    }
}

/// What admitting a connection led to.
#[derive(Debug)]
pub enum Admission {
    /// Admitted; `displaced` names the cap that made an idle connection give way.
    Admitted {
        slot: Slot,
        displaced: Option<Bite>,
    },
    Refused(Bite),
}

impl Registry {
    pub fn new(caps: Caps) -> Arc<Self> {
        Arc::new(Self {
            caps,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Admits a connection from `ip`, making room under each cap by closing an idle
    /// connection where one is needed.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Admission {
        let ip = ip.to_canonical();
        let range = Range::of(ip);
        let Ok(mut inner) = self.inner.lock() else {
            return Admission::Refused(Bite::Total);
        };
        let mut displaced = None;
        if inner.count_ip(ip) >= self.caps.per_ip {
            if !inner.evict(|e| e.ip == ip) {
                return self.refuse(&mut inner, Bite::PerIp, ip);
            }
            displaced = Some(Bite::PerIp);
        }
        if inner.count_range(range) >= self.caps.per_range {
            if !inner.evict(|e| e.range == range) {
                return self.refuse(&mut inner, Bite::PerRange, ip);
            }
            displaced.get_or_insert(Bite::PerRange);
        }
        if inner.conns.len() >= self.caps.total {
            let evicted = match inner.fullest_range_with_idle() {
                Some(r) => inner.evict(|e| e.range == r),
                None => false,
            };
            if !evicted {
                return self.refuse(&mut inner, Bite::Total, ip);
            }
            displaced.get_or_insert(Bite::Total);
        }
        if let Some(bite) = displaced {
            metrics::counter!("rampart_connections_displaced_total", "reason" => bite.as_str())
                .increment(1);
            if inner.should_log() {
                tracing::warn!(target: "rampart::security", event = "connection_limit", action = "closed_idle", reason = bite.as_str(), ip = %ip);
            }
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let state = Arc::new(ConnState::new());
        state.touch();
        inner.conns.insert(
            id,
            Entry {
                ip,
                range,
                state: Arc::clone(&state),
            },
        );
        *inner.per_ip.entry(ip).or_default() += 1;
        *inner.per_range.entry(range).or_default() += 1;
        Admission::Admitted {
            slot: Slot {
                registry: Arc::clone(self),
                id,
                state,
            },
            displaced,
        }
    }

    fn refuse(&self, inner: &mut Inner, bite: Bite, ip: IpAddr) -> Admission {
        metrics::counter!("rampart_connections_refused_total", "reason" => bite.as_str())
            .increment(1);
        if inner.should_log() {
            tracing::warn!(target: "rampart::security", event = "connection_limit", action = "refused", reason = bite.as_str(), ip = %ip);
        }
        Admission::Refused(bite)
    }

    /// Connections held now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |i| i.conns.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn admitted(a: Admission) -> Slot {
        match a {
            Admission::Admitted { slot, .. } => slot,
            Admission::Refused(b) => panic!("refused: {b:?}"),
        }
    }

    fn displaced(a: &Admission) -> Option<Bite> {
        match a {
            Admission::Admitted { displaced, .. } => *displaced,
            Admission::Refused(b) => panic!("refused: {b:?}"),
        }
    }

    #[test]
    fn an_address_at_its_cap_gives_up_its_longest_idle_connection_never_a_busy_one() {
        let r = Registry::new(Caps {
            total: 10,
            per_ip: 2,
            per_range: 10,
        });
        let a1 = admitted(r.admit(ip("10.0.0.1")));
        let a2 = admitted(r.admit(ip("10.0.0.1")));
        let _busy = a1.state.begin();
        let a3 = r.admit(ip("10.0.0.1"));
        assert_eq!(displaced(&a3), Some(Bite::PerIp));
        assert_eq!(r.len(), 2);
        // a2 was told to close; a1, busy, was not.
        assert!(futures::FutureExt::now_or_never(a2.state.evicted.notified()).is_some());
        assert!(futures::FutureExt::now_or_never(a1.state.evicted.notified()).is_none());
        let _busy3 = match &a3 {
            Admission::Admitted { slot, .. } => slot.state.begin(),
            Admission::Refused(_) => unreachable!(),
        };
        assert!(matches!(
            r.admit(ip("10.0.0.1")),
            Admission::Refused(Bite::PerIp)
        ));
    }

    #[test]
    fn a_range_holds_at_most_its_share_and_a_full_listener_makes_room_from_the_fullest_range() {
        let r = Registry::new(Caps {
            total: 4,
            per_ip: 4,
            per_range: 2,
        });
        let _x1 = admitted(r.admit(ip("10.0.0.1")));
        let _x2 = admitted(r.admit(ip("10.0.0.2")));
        // A third address of the same /24 displaces one of the range's idle connections.
        let x3 = r.admit(ip("10.0.0.3"));
        assert_eq!(displaced(&x3), Some(Bite::PerRange));
        assert_eq!(r.len(), 2);
        let _y1 = admitted(r.admit(ip("172.16.0.1")));
        let _z1 = admitted(r.admit(ip("192.168.0.1")));
        assert_eq!(r.len(), 4);
        // Full: the newcomer from a fourth range displaces an idle connection of the fullest.
        let w = r.admit(ip("198.51.100.1"));
        assert_eq!(displaced(&w), Some(Bite::Total));
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn ranges_are_ipv4_slash_24_and_ipv6_slash_48() {
        assert_eq!(Range::of(ip("10.1.2.3")), Range::of(ip("10.1.2.200")));
        assert_ne!(Range::of(ip("10.1.2.3")), Range::of(ip("10.1.3.3")));
        assert_eq!(Range::of(ip("::ffff:10.1.2.3")), Range::of(ip("10.1.2.9")));
        assert_eq!(
            Range::of(ip("2001:db8:1::1")),
            Range::of(ip("2001:db8:1:ffff::2"))
        );
        assert_ne!(
            Range::of(ip("2001:db8:1::1")),
            Range::of(ip("2001:db8:2::1"))
        );
    }
}
