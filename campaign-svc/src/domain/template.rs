//! Content templates: reusable messages (subject, text body, HTML body) checked when saved.

use chrono::{DateTime, Utc};
use marketing_core::models::TemplateRow;
use marketing_core::render::{self, MessageSource, RenderError};
use marketing_core::vocabulary::Channel;
use serde::Serialize;
use uuid::Uuid;

use super::campaign::{CampaignName, MAX_CONTENT_CHARS};
use super::{bounded_text, parse_word};
use crate::error::{Error, Result};

/// Longest subject / push title, in characters.
pub const MAX_SUBJECT_CHARS: usize = 1_000;

/// Template fields as a transport delivers them. `None` = not given; `Some(None)` = cleared.
#[derive(Debug, Clone, Default)]
pub struct TemplateFields {
    pub name: Option<String>,
    pub channel: Option<String>,
    pub subject: Option<Option<String>>,
    pub body: Option<String>,
    pub html_body: Option<Option<String>>,
}

/// A template with every rule checked, and the variables it uses.
#[derive(Debug, Clone)]
pub struct ValidTemplate {
    pub name: String,
    pub channel: Channel,
    pub source: MessageSource,
    pub variables: Vec<String>,
}

/// Maps a render error to the request field it concerns (`prefix` + part).
pub fn render_error(prefix: &str, e: RenderError) -> Error {
    Error::invalid(format!("{prefix}{}", e.part), e.message)
}

/// Checks a whole template: name, channel, which parts the channel allows, sizes, syntax and
/// variables.
pub fn validate(
    name: &str,
    channel: Channel,
    subject: Option<String>,
    body: String,
    html_body: Option<String>,
) -> Result<ValidTemplate> {
    let name = CampaignName::parse(name)?.as_str().to_owned();
    let subject = subject.filter(|s| !s.trim().is_empty());
    let html_body = html_body.filter(|s| !s.trim().is_empty());
    if body.trim().is_empty() {
        return Err(Error::invalid("body", "must not be empty"));
    }
    let body = bounded_text("body", &body, MAX_CONTENT_CHARS)?;
    if subject.is_some() && channel == Channel::Sms {
        return Err(Error::invalid(
            "subject",
            "SMS messages have no subject; leave it out",
        ));
    }
    if subject.is_some() && channel == Channel::Wechat {
        return Err(Error::invalid(
            "subject",
            "WeChat template messages have no subject (the text fills WECHAT_DATA_KEY); leave it out",
        ));
    }
    if html_body.is_some() && channel != Channel::Email {
        return Err(Error::invalid(
            "html_body",
            "only e-mail templates have an HTML body",
        ));
    }
    let subject = subject
        .map(|s| bounded_text("subject", &s, MAX_SUBJECT_CHARS))
        .transpose()?;
    let html_body = html_body
        .map(|s| bounded_text("html_body", &s, MAX_CONTENT_CHARS))
        .transpose()?;
    let source = MessageSource {
        subject,
        body,
        html_body,
    };
    let variables = render::check(&source).map_err(|e| render_error("", e))?;
    Ok(ValidTemplate {
        name,
        channel,
        source,
        variables,
    })
}

impl TemplateFields {
    /// A new template: name, channel and body required.
    pub fn into_new(self) -> Result<ValidTemplate> {
        let channel = match self.channel.as_deref() {
            None | Some("") => return Err(Error::invalid("channel", "is required")),
            Some(c) => parse_word::<Channel>("channel", c)?,
        };
        validate(
            self.name.as_deref().unwrap_or(""),
            channel,
            self.subject.flatten(),
            self.body.unwrap_or_default(),
            self.html_body.flatten(),
        )
    }

    /// The stored template with this partial update applied, checked as a whole.
    pub fn apply(self, row: &TemplateRow) -> Result<ValidTemplate> {
        let channel = match self.channel.as_deref() {
            Some(c) => parse_word::<Channel>("channel", c)?,
            None => row.channel,
        };
        validate(
            self.name.as_deref().unwrap_or(&row.name),
            channel,
            self.subject.unwrap_or_else(|| row.subject.clone()),
            self.body.unwrap_or_else(|| row.body.clone()),
            self.html_body.unwrap_or_else(|| row.html_body.clone()),
        )
    }
}

/// A template as both APIs return it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: Uuid,
    pub name: String,
    pub channel: Channel,
    pub subject: Option<String>,
    pub body: String,
    pub html_body: Option<String>,
    pub variables: Vec<String>,
    pub created_by: Uuid,
    pub updated_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TemplateRow> for Template {
    fn from(r: TemplateRow) -> Self {
        Template {
            id: r.id,
            name: r.name,
            channel: r.channel,
            subject: r.subject,
            body: r.body,
            html_body: r.html_body,
            variables: r.variables,
            created_by: r.created_by,
            updated_by: r.updated_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Template {
    pub fn source(&self) -> MessageSource {
        MessageSource {
            subject: self.subject.clone(),
            body: self.body.clone(),
            html_body: self.html_body.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(channel: &str, body: &str) -> TemplateFields {
        TemplateFields {
            name: Some("welcome".into()),
            channel: Some(channel.into()),
            body: Some(body.into()),
            ..Default::default()
        }
    }

    #[test]
    fn variables_are_listed_and_unknown_ones_refused() {
        let t = fields("sms", "Hi {{ name }}, {{ attributes.city | default('') }}")
            .into_new()
            .unwrap();
        assert_eq!(t.variables, vec!["attributes.city", "name"]);
        let err = fields("sms", "Hi {{ nmae }}").into_new().unwrap_err();
        assert_eq!(err.field(), Some("body"));
        assert!(err.to_string().contains("nmae"), "{err}");
    }

    #[test]
    fn parts_must_fit_the_channel() {
        let mut f = fields("sms", "x");
        f.subject = Some(Some("s".into()));
        assert_eq!(f.into_new().unwrap_err().field(), Some("subject"));
        let mut f = fields("push_notification", "x");
        f.html_body = Some(Some("<p>x</p>".into()));
        assert_eq!(f.into_new().unwrap_err().field(), Some("html_body"));
        let mut f = fields("email", "x");
        f.html_body = Some(Some("<p>{% if %}</p>".into()));
        let err = f.into_new().unwrap_err();
        assert_eq!(err.field(), Some("html_body"));
        assert!(err.to_string().contains("line 1"), "{err}");
        assert_eq!(
            fields("fax", "x").into_new().unwrap_err().field(),
            Some("channel")
        );
        assert_eq!(
            fields("sms", " ").into_new().unwrap_err().field(),
            Some("body")
        );
    }
}
