//! E-mail over SMTP (lettre). The record id becomes the `Message-ID`, so duplicates can be
//! recognised downstream.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{OutboundMessage, Provider, SendError};
use crate::config::{Config, SmtpTls};

pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpProvider {
    pub fn new(c: &Config) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = match c.smtp_tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host),
            SmtpTls::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host)?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host)?,
        }
        .port(c.smtp_port);
        if let (Some(user), Some(password)) = (&c.smtp_username, &c.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = c
            .email_from
            .parse()
            .map_err(|e| anyhow::anyhow!("EMAIL_FROM `{}` is not a mailbox: {e}", c.email_from))?;
        Ok(SmtpProvider {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait::async_trait]
impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, m: &OutboundMessage) -> Result<Option<String>, SendError> {
        let to: Mailbox = m.to.parse().map_err(|e| {
            SendError::Permanent(format!("`{}` is not an e-mail address: {e}", m.to))
        })?;
        let message_id = format!("<{}@marketing.crm>", m.record_id);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone())
            .message_id(Some(message_id.clone()));
        if let Some(url) = &m.unsubscribe_url {
            // RFC 2369 and RFC 8058: mail clients offer a one-click unsubscribe button.
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let email = match &m.html_body {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                m.body.clone(),
                html.clone(),
            )),
            None => builder.header(ContentType::TEXT_PLAIN).body(m.body.clone()),
        }
        .map_err(|e| SendError::Permanent(format!("cannot build the e-mail: {e}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(Some(message_id)),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("SMTP refused: {e}"))),
            Err(e) => Err(SendError::Transient(format!("SMTP: {e}"))),
        }
    }
}
