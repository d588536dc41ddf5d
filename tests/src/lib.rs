//! Test harness: start a real Rampart server on port 0 (in process, over a real socket) on
//! SQLite or PostgreSQL, and talk to it over HTTP with a real client.
//!
//! PostgreSQL is found through `RAMPART_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each server uses its own schema and role prefix
//! and removes them when dropped. When the server cannot be reached the PostgreSQL half of the
//! suite says so loudly and is skipped, except under `CI=true`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod authenticator;
pub mod client;
pub mod passkey;
pub mod smtp;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rampart_server::{Config, Listeners};
use rampart_store::{Store, StoreConfig, Tenant, TenantStore};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

pub use authenticator::Authenticator;
pub use client::{Client, Resp};
pub use passkey::PasskeyDevice;
pub use smtp::SmtpSink;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Which database a test server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// The PostgreSQL URL for tests.
pub fn postgres_url() -> String {
    std::env::var("RAMPART_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
}

fn postgres_reachable(url: &str) -> bool {
    static REACHABLE: OnceLock<bool> = OnceLock::new();
    let url = url.to_owned();
    *REACHABLE.get_or_init(move || {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                matches!(
                    tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&url))
                        .await,
                    Ok(Ok(_))
                )
            })
        })
        .join()
        .unwrap_or(false)
    })
}

impl Backend {
    /// PostgreSQL if it can be reached. Under `CI=true` an unreachable server fails the test.
    pub fn postgres() -> Option<Self> {
        let url = postgres_url();
        if postgres_reachable(&url) {
            return Some(Self::Postgres(url));
        }
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true but PostgreSQL is not reachable at {url}");
        eprintln!("SKIPPED (PostgreSQL not reachable at {url}; set RAMPART_TEST_POSTGRES_URL)");
        None
    }
}

/// Runs a behaviour test against both backends: `backend_tests!(a, b)` makes
/// `sqlite::a`, `postgres::a`, ... from `async fn a(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(backend) = $crate::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

/// A unique, valid prefix for this test's PostgreSQL schemas and roles.
pub fn unique_prefix() -> String {
    format!("rt_{}_", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub internal_addr: SocketAddr,
    pub store: Store,
    pub config: Arc<Config>,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
    postgres: bool,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// A store on its own, for tests below the HTTP layer. Call `destroy` at the end.
pub async fn test_store(backend: &Backend) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = match backend {
        Backend::Sqlite => StoreConfig::Sqlite {
            data_dir: dir.path().to_path_buf(),
            readers: 4,
        },
        Backend::Postgres(url) => StoreConfig::Postgres {
            url: url.clone(),
            prefix: unique_prefix(),
            max_connections: 8,
        },
    };
    let store = Store::open(&config).await.unwrap();
    store.keys().set_ring(test_kek_ring());
    (store, dir)
}

/// A fresh instance key-encryption key.
pub fn test_kek_ring() -> rampart_crypto::keyring::KekRing {
    use rampart_crypto::keyring::{Kek, KekRing, Key};
    KekRing::from_keks(vec![Kek::new(Key::generate())]).unwrap()
}

impl TestServer {
    /// Starts a server with the default tenant `default` and a tenant `acme`.
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            internal_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.auth.hash_concurrency = 2;
        // Behaviour tests call far faster than any person; `tests/edge.rs` turns the
        // budgets back on (with their defaults) to test them.
        config.rate_limits.enabled = false;
        let postgres = matches!(backend, Backend::Postgres(_));
        if let Backend::Postgres(url) = &backend {
            config.database.url = SecretString::from(url.clone());
            config.database.postgres_prefix = unique_prefix();
            config.database.max_connections = 8;
        }
        // The instance's keys come from a file, as an operator would configure them.
        let kek_file = dir.path().join("instance.kek");
        rampart_app::keys::kek_source::generate_file(&kek_file).unwrap();
        config.keys.kek_file = Some(kek_file);
        adjust(&mut config);
        assert!(config.check().is_empty(), "{:?}", config.check());
        let store = Store::open(&config.store_config()).await.unwrap();
        rampart_app::keys::kek_source::install(&config.keys, &config.data_dir, &store)
            .await
            .unwrap();
        for slug in ["default", "acme"] {
            store.create_tenant(slug, slug).await.unwrap();
        }
        let listeners = Listeners::bind(&config).await.unwrap();
        let bound = listeners.bound().unwrap();
        let config = Arc::new(config);
        let state = rampart_server::app_state(config.clone(), store.clone())
            .await
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(rampart_server::run(listeners, state, None, async move {
            let _ = stopped.await;
        }));
        Self {
            addr: bound.public,
            internal_addr: bound.internal,
            store,
            config,
            stop: Some(stop),
            handle: Some(handle),
            _dir: dir,
            postgres,
        }
    }

    /// An anonymous client addressing tenant `slug` by its host name (`<slug>.localhost`).
    pub fn client(&self, slug: &str) -> Client {
        Client::new(self.addr, &format!("{slug}.localhost"))
    }

    /// A client for an arbitrary Host header.
    pub fn client_for_host(&self, host: &str) -> Client {
        Client::new(self.addr, host)
    }

    pub async fn tenant(&self, slug: &str) -> (Tenant, TenantStore) {
        let t = self.store.tenant_by_slug(slug).await.unwrap().unwrap();
        let ts = self.store.tenant_store(&t).await.unwrap();
        (t, ts)
    }

    /// Issues a setup token for `slug` as the operator would (`rampart tenant setup-token`).
    pub async fn setup_token(&self, slug: &str) -> String {
        let (_, ts) = self.tenant(slug).await;
        rampart_auth::authn::issue_setup_token(&ts, chrono::Duration::hours(1))
            .await
            .unwrap()
            .expose_secret()
            .to_owned()
    }

    /// Creates the first owner of `slug` over HTTP and returns a signed-in client.
    pub async fn owner(&self, slug: &str) -> Client {
        let token = self.setup_token(slug).await;
        let client = self.client(slug);
        let email = format!("owner@{slug}.test");
        let r = client
            .post(
                "/api/v1/setup",
                serde_json::json!({"token": token, "email": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        client.login(&email, PASSWORD).await
    }

    /// Creates a user with `role` through `admin` and returns them signed in.
    pub async fn user(&self, admin: &Client, slug: &str, email: &str, role: &str) -> Client {
        let r = admin
            .post(
                "/api/v1/users",
                serde_json::json!({"email": email, "display_name": email, "password": PASSWORD, "role": role}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        self.client(slug).login(email, PASSWORD).await
    }

    /// Runs `sql` (an UPDATE ending in `= `) with a time 30 days ago on tenant `slug`: expiry
    /// is tested by moving stored times into the past, never by sleeping.
    pub async fn backdate(&self, slug: &str, sql: &'static str) {
        let past = chrono::Utc::now() - chrono::Duration::days(30);
        self.set_time(slug, sql, past, "").await;
    }

    /// Runs `<sql> <when> <rest>` on tenant `slug`, `when` bound as a parameter.
    pub async fn set_time(
        &self,
        slug: &str,
        sql: &'static str,
        when: chrono::DateTime<chrono::Utc>,
        rest: &'static str,
    ) {
        let (_, ts) = self.tenant(slug).await;
        ts.write(move |tx: &mut rampart_store::Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push(sql)
                    .param(rampart_sql::Param::Timestamp(when))
                    .push(rest);
                tx.execute(q).await.map(|_| ())
            })
        })
        .await
        .unwrap();
    }

    /// Tells the server to shut down (stop accepting, drain what is in flight) without
    /// waiting for it; [`Self::stop`] then waits and cleans up.
    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server as an operator's SIGTERM would and waits until it has finished its
    /// shutdown, keeping its data (and `store`) for the test to look at; `stop` cleans up.
    pub async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let r = tokio::time::timeout(Duration::from_secs(30), handle).await;
            assert!(
                matches!(r, Ok(Ok(Ok(())))),
                "the server stops cleanly: {r:?}"
            );
        }
    }

    /// Stops the server and removes what it created.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), handle).await;
        }
        if self.postgres {
            let _ = self.store.clone().destroy_postgres_instance().await;
            self.postgres = false;
        } else {
            self.store.close().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.postgres {
            // A test that panicked did not call `stop`: clean up its schemas and roles anyway.
            let store = self.store.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let _ = store.destroy_postgres_instance().await;
                });
            })
            .join();
        }
    }
}

/// The password every test user has.
pub const PASSWORD: &str = "velvet cactus orbit lantern";
