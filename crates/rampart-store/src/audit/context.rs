//! Who is acting, for the entries a request writes. The server opens a [`scope`] around each
//! request (request id, client address) and names the actor once it is authenticated; the
//! command line opens one as the operator. [`crate::TenantStore::write`] captures the scope
//! of the task that asks for the write, so entries are attributed correctly even though
//! SQLite writes run on the writer's own task.

use std::future::Future;
use std::sync::{Arc, Mutex};

use rampart_core::UserId;

/// Who caused an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request nobody has been authenticated for yet (a failed sign-in, a setup).
    Anonymous,
    User(UserId),
    /// The instance operator, on the command line.
    Operator,
    /// Background work of the server itself (housekeeping).
    System,
}

impl Actor {
    pub fn as_text(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".into(),
            Self::User(u) => format!("user:{u}"),
            Self::Operator => "operator".into(),
            Self::System => "system".into(),
        }
    }
}

/// A request's (or command's) context.
#[derive(Debug)]
pub struct AuditContext {
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    actor: Mutex<Actor>,
}

impl AuditContext {
    pub fn new(request_id: Option<String>, client_ip: Option<String>, actor: Actor) -> Self {
        Self {
            request_id,
            client_ip,
            actor: Mutex::new(actor),
        }
    }

    pub fn actor(&self) -> Actor {
        self.actor.lock().map_or(Actor::Anonymous, |a| a.clone())
    }
}

/// What a transaction records its entries with, fixed when the write was asked for.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub actor: Actor,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
}

tokio::task_local! {
    static CONTEXT: Arc<AuditContext>;
}

/// Runs `f` with `context` as the audit context of everything it writes.
pub async fn scope<F: Future>(context: AuditContext, f: F) -> F::Output {
    CONTEXT.scope(Arc::new(context), f).await
}

/// Names the actor of the current scope (once authenticated).
pub fn set_actor(actor: Actor) {
    let _ = CONTEXT.try_with(|c| {
        if let Ok(mut a) = c.actor.lock() {
            *a = actor;
        }
    });
}

/// The current scope's context; outside any scope, the server itself.
pub fn snapshot() -> Snapshot {
    CONTEXT
        .try_with(|c| Snapshot {
            actor: c.actor(),
            request_id: c.request_id.clone(),
            client_ip: c.client_ip.clone(),
        })
        .unwrap_or(Snapshot {
            actor: Actor::System,
            request_id: None,
            client_ip: None,
        })
}
