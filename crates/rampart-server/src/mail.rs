//! Outgoing mail over SMTP (lettre). Messages are plain text; links point at the tenant's
//! own address, never at a host taken from the request beyond the tenant's own name.

use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{SmtpConfig, SmtpTls};

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The configured mailer; `None` when no SMTP host is set.
    pub fn from_config(config: &SmtpConfig) -> Result<Option<Self>, String> {
        let Some(host) = &config.host else {
            return Ok(None);
        };
        let builder = match config.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
            SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                host,
            )),
        }
        .map_err(|e| format!("smtp: {e}"))?;
        let mut builder = builder.port(config.port);
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp.from: {e}"))?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|e| format!("recipient: {e}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| format!("message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("smtp: {e}"))
    }
}

/// Sends in the background, so that an answer never waits for (or reveals) the mail; a
/// failure is logged.
pub fn send_later(mailer: Mailer, to: String, subject: &'static str, body: String) {
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&to, subject, body).await {
            tracing::error!(error = %e, subject, "a mail was not sent");
        }
    });
}

/// The problem answered when a feature needs mail and none is configured.
pub fn unavailable() -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "mail_unavailable",
        "Mail unavailable",
    )
    .detail("this server sends no mail (no smtp.host configured); ask an administrator")
}

#[cfg(test)]
mod tests {
    use lettre::message::Mailbox;
    use proptest::prelude::*;
    use rampart_core::names::{email_pattern, validate_email};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The API's one email rule never admits an address the mailer then refuses (an
        /// invitation answered 202 must be sendable).
        #[test]
        fn every_address_the_api_takes_is_one_the_mailer_takes(
            email in proptest::string::string_regex(
                email_pattern().trim_start_matches('^').trim_end_matches('$'),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        ) {
            if validate_email("email", &email).is_ok() {
                prop_assert!(email.parse::<Mailbox>().is_ok(), "{email:?}");
            }
        }
    }

    #[test]
    fn addresses_the_probe_found_are_refused_before_any_mail() {
        for bad in ["x@ex;<a>.com", "x@[1.2.3.4]"] {
            assert!(validate_email("email", bad).is_err(), "{bad}");
        }
    }
}
