//! `rampart user ...`: break-glass actions for a user locked out of their account. Each is
//! logged as a security event (to the log on stderr).

use rampart_auth::PasswordHasher;
use rampart_auth::authn::break_glass::{self, BreakGlassError};
use rampart_server::Config;
use secrecy::ExposeSecret;

use crate::cli::UserCommand;
use crate::serve::{init_logging, open_store};

fn error(e: BreakGlassError) -> String {
    e.to_string()
}

pub async fn run(config: Config, command: UserCommand) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator =
        rampart_store::audit::AuditContext::new(None, None, rampart_store::audit::Actor::Operator);
    let result = rampart_store::audit::scope(operator, run_with(&config, &store, command)).await;
    store.close().await;
    result
}

async fn run_with(
    config: &Config,
    store: &rampart_store::Store,
    command: UserCommand,
) -> Result<(), String> {
    let (UserCommand::ResetPassword { tenant, .. } | UserCommand::Reset2fa { tenant, .. }) =
        &command;
    let tenant = store
        .tenant_by_slug(tenant)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no such tenant")?;
    let ts = store
        .tenant_store(&tenant)
        .await
        .map_err(|e| e.to_string())?;
    match command {
        UserCommand::ResetPassword { email, .. } => {
            let hasher = PasswordHasher::new(config.auth.hash_concurrency)
                .map_err(|_| "password hashing is unavailable")?;
            let (user, password) = break_glass::reset_password(&ts, &hasher, &email)
                .await
                .map_err(error)?;
            println!(
                "reset the password of {} ({}) in {}; their sessions ended",
                user.email, user.id, tenant.slug
            );
            println!(
                "new password (hand it over safely; they should change it at once): {}",
                password.expose_secret()
            );
        }
        UserCommand::Reset2fa { email, .. } => {
            let user = break_glass::reset_second_factors(&ts, &email)
                .await
                .map_err(error)?;
            println!(
                "removed the second factors of {} ({}) in {}; their sessions ended",
                user.email, user.id, tenant.slug
            );
        }
    }
    Ok(())
}
