//! Rate limits on every call (GCRA, via `governor`): per client address, with separate
//! budgets for sign-in calls and data calls, and per account and per API token once the
//! caller is known. Login back-off after failures is the identity layer's (counters in the
//! database); these budgets bound how fast anyone may call at all.
//!
//! IPv6 clients are counted per /64: one subscriber usually holds a whole /64, so counting
//! single addresses would give an attacker 2^64 budgets.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One budget: `per_minute` calls on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBudget {
    #[serde(deserialize_with = "crate::extract::integral_u32")]
    #[schema(minimum = 1, maximum = 6_000_000)]
    pub per_minute: u32,
    #[serde(deserialize_with = "crate::extract::integral_u32")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub burst: u32,
}

impl RateBudget {
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }

    /// Largest rate and burst accepted anywhere.
    pub const MAX_PER_MINUTE: u32 = 6_000_000;
    pub const MAX_BURST: u32 = 1_000_000;

    pub fn is_valid(&self) -> bool {
        (1..=Self::MAX_PER_MINUTE).contains(&self.per_minute)
            && (1..=Self::MAX_BURST).contains(&self.burst)
    }

    /// Whether this budget allows no more than `other`, in rate and in burst.
    pub fn within(&self, other: &Self) -> bool {
        self.per_minute <= other.per_minute && self.burst <= other.burst
    }

    fn quota(&self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs(60) / self.per_minute.max(1);
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst)
    }
}

/// The four budgets a tenant's callers are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateBudgets {
    /// Sign-in calls (`/api/v1/auth/…`, setup, invitations) from one client address.
    pub login_per_ip: RateBudget,
    /// Every other call from one client address.
    pub data_per_ip: RateBudget,
    /// Calls of one account, over all its sessions and tokens.
    pub data_per_account: RateBudget,
    /// Calls made with one API token.
    pub data_per_token: RateBudget,
}

impl Default for RateBudgets {
    fn default() -> Self {
        Self {
            login_per_ip: RateBudget::new(30, 30),
            data_per_ip: RateBudget::new(6000, 300),
            data_per_account: RateBudget::new(3000, 200),
            data_per_token: RateBudget::new(3000, 200),
        }
    }
}

impl RateBudgets {
    fn each(&self) -> [(&'static str, &RateBudget); 4] {
        [
            ("login_per_ip", &self.login_per_ip),
            ("data_per_ip", &self.data_per_ip),
            ("data_per_account", &self.data_per_account),
            ("data_per_token", &self.data_per_token),
        ]
    }

    /// The names of the budgets that are out of range.
    pub fn invalid(&self) -> Vec<&'static str> {
        self.each()
            .into_iter()
            .filter(|(_, b)| !b.is_valid())
            .map(|(n, _)| n)
            .collect()
    }

    /// The names of the budgets that allow more than `ceiling`'s.
    pub fn above(&self, ceiling: &Self) -> Vec<&'static str> {
        self.each()
            .into_iter()
            .zip(ceiling.each())
            .filter(|((_, b), (_, c))| !b.within(c))
            .map(|((n, _), _)| n)
            .collect()
    }
}

/// Which budget a call draws on before the caller is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallClass {
    Login,
    Data,
}

impl CallClass {
    /// Sign-in and account-recovery calls: everything that takes a password, a code or an
    /// email from an anonymous client.
    pub fn of(path: &str) -> Self {
        if path.starts_with("/api/v1/auth/")
            || path == "/api/v1/setup"
            || path == "/api/v1/invitations/accept"
        {
            Self::Login
        } else {
            Self::Data
        }
    }
}

/// What a limited caller is told: which budget ran out and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub budget: &'static str,
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds for `Retry-After`, rounded up, at least one.
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// The key a client address is counted under: IPv4 as is, IPv6 by its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match crate::client_addr::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// One tenant's limiters, built from its budgets.
pub struct Limiters {
    budgets: RateBudgets,
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    data_ip: DefaultKeyedRateLimiter<IpAddr>,
    account: DefaultKeyedRateLimiter<Uuid>,
    token: DefaultKeyedRateLimiter<Uuid>,
}

impl std::fmt::Debug for Limiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiters")
            .field("budgets", &self.budgets)
            .finish_non_exhaustive()
    }
}

fn check<K: Clone + Eq + std::hash::Hash>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    budget: &'static str,
) -> Result<(), Limited> {
    limiter.check_key(key).map_err(|not_until| Limited {
        budget,
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

impl Limiters {
    pub fn new(budgets: RateBudgets) -> Self {
        Self {
            budgets,
            login_ip: DefaultKeyedRateLimiter::keyed(budgets.login_per_ip.quota()),
            data_ip: DefaultKeyedRateLimiter::keyed(budgets.data_per_ip.quota()),
            account: DefaultKeyedRateLimiter::keyed(budgets.data_per_account.quota()),
            token: DefaultKeyedRateLimiter::keyed(budgets.data_per_token.quota()),
        }
    }

    pub fn budgets(&self) -> &RateBudgets {
        &self.budgets
    }

    /// Counts a call from `ip` against the budget of its class.
    pub fn check_address(&self, ip: IpAddr, class: CallClass) -> Result<(), Limited> {
        let key = address_key(ip);
        match class {
            CallClass::Login => check(&self.login_ip, &key, "login_per_ip"),
            CallClass::Data => check(&self.data_ip, &key, "data_per_ip"),
        }
    }

    /// Counts a call of an authenticated caller: always against the account, and against
    /// the token when it came with one.
    pub fn check_caller(&self, account: Uuid, token: Option<Uuid>) -> Result<(), Limited> {
        check(&self.account, &account, "data_per_account")?;
        match token {
            Some(token) => check(&self.token, &token, "data_per_token"),
            None => Ok(()),
        }
    }

    /// Forgets keys whose budget is full again (bounded memory under a flood of addresses).
    pub fn forget_idle(&self) {
        self.login_ip.retain_recent();
        self.data_ip.retain_recent();
        self.account.retain_recent();
        self.token.retain_recent();
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.login_ip.len() + self.data_ip.len() + self.account.len() + self.token.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_burst_is_admitted_then_the_next_call_is_limited_with_a_wait() {
        let limiters = Limiters::new(RateBudgets {
            login_per_ip: RateBudget::new(60, 3),
            ..RateBudgets::default()
        });
        for _ in 0..3 {
            assert!(
                limiters
                    .check_address(ip("192.0.2.1"), CallClass::Login)
                    .is_ok()
            );
        }
        let limited = limiters
            .check_address(ip("192.0.2.1"), CallClass::Login)
            .err();
        assert_eq!(limited.map(|l| l.budget), Some("login_per_ip"));
        assert!(limited.is_some_and(|l| (1..=1).contains(&l.retry_after_secs())));
        // Another address, and the data budget of the same address, are untouched.
        assert!(
            limiters
                .check_address(ip("192.0.2.2"), CallClass::Login)
                .is_ok()
        );
        assert!(
            limiters
                .check_address(ip("192.0.2.1"), CallClass::Data)
                .is_ok()
        );
    }

    #[test]
    fn ipv6_addresses_of_one_slash_64_share_a_budget_and_mapped_v4_is_v4() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa::1")),
            address_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            address_key(ip("2001:db8:1:2::1")),
            address_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    #[test]
    fn a_token_call_counts_against_its_account_too() {
        let limiters = Limiters::new(RateBudgets {
            data_per_account: RateBudget::new(60, 2),
            data_per_token: RateBudget::new(60, 10),
            ..RateBudgets::default()
        });
        let (user, token) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(limiters.check_caller(user, Some(token)).is_ok());
        assert!(limiters.check_caller(user, None).is_ok());
        assert_eq!(
            limiters
                .check_caller(user, Some(token))
                .err()
                .map(|l| l.budget),
            Some("data_per_account")
        );
    }

    #[test]
    fn budgets_are_validated_and_compared_to_a_ceiling() {
        let mut b = RateBudgets::default();
        assert!(b.invalid().is_empty());
        b.data_per_token.burst = 0;
        assert_eq!(b.invalid(), vec!["data_per_token"]);
        let mut raised = RateBudgets::default();
        raised.login_per_ip.per_minute += 1;
        assert_eq!(raised.above(&RateBudgets::default()), vec!["login_per_ip"]);
    }

    #[test]
    fn sign_in_paths_draw_on_the_login_budget() {
        assert_eq!(CallClass::of("/api/v1/auth/login"), CallClass::Login);
        assert_eq!(CallClass::of("/api/v1/setup"), CallClass::Login);
        assert_eq!(
            CallClass::of("/api/v1/invitations/accept"),
            CallClass::Login
        );
        assert_eq!(CallClass::of("/api/v1/tables/x/records"), CallClass::Data);
        assert_eq!(CallClass::of("/api/v1/authx"), CallClass::Data);
    }
}
