//! Personalised content: a message (subject, text body, HTML body) compiled once as sandboxed
//! minijinja templates and rendered per recipient. The templates see only the values given to
//! them: no loader (no files), no network, bounded work (fuel) and bounded output.
//!
//! Variables:
//! - customer: `name`, `email`, `phone`, `external_id`, `locale`, `time_zone`, `birthday`,
//!   `attributes.*` (any key, nested with dots);
//! - campaign: `campaign.id`, `campaign.name`, `campaign.type`, `campaign.start_time`,
//!   `campaign.end_time`;
//! - `unsubscribe_url`: the message's own signed unsubscribe link (added as a footer when the
//!   content does not place it);
//! - `link`: the seed's `[链接]`; renders empty (links written in the content are sent, each
//!   turned into a signed click-tracking redirect).
//!
//! The seed's bracket placeholders (`[客户姓名]`, `[姓名]`, `[链接]`) mean `{{ name }}` and
//! `{{ link }}`. A missing value (a field the customer does not have, an attribute that is absent
//! or `null`) is undefined: it renders empty, string filters (`lower`, `upper`, `trim`, …) keep it
//! empty and `default(…)` replaces it; a missing name renders a locale-aware fallback
//! (顾客 / Customer). So no raw placeholder, `None` or `none` ever reaches a customer.
//!
//! Filters beyond minijinja's built-ins (`default`, `upper`, `round`, …):
//! - `datetime(format="%Y-%m-%d %H:%M")`, `date(format="%Y-%m-%d")`: an RFC 3339 time, a date or
//!   Unix seconds, shown in the customer's `time_zone` (UTC when unknown); strftime formats.
//! - `plural(one, other)`: `one` when the value is 1, else `other` (`{{ n }} {{ n | plural("point",
//!   "points") }}`); in Chinese, Japanese and Korean locales always `other`.
//! - `number`: groups digits the customer's locale's way (`12,345.5`, `12.345,5`, `12 345,5`).
//!
//! HTML bodies are auto-escaped: a customer's name can never inject markup.

mod check;
mod filters;

use std::collections::BTreeSet;
use std::io;

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::value::Serde;
use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value, context};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use check::check;

/// Largest rendered part (subject, body or HTML body), in bytes.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Template instructions one render may execute (stops loops that would never end).
const FUEL: u64 = 100_000;

/// Why content could not be compiled or rendered, in words a marketer can act on, with the part
/// (`subject`, `body`, `html_body`) it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {message}")]
pub struct RenderError {
    pub part: &'static str,
    pub message: String,
}

impl RenderError {
    fn new(part: &'static str, e: &minijinja::Error) -> Self {
        let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
        let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
        let message = match e.kind() {
            ErrorKind::OutOfFuel => {
                "the template does too much work (an endless or very long loop?)".to_owned()
            }
            ErrorKind::WriteFailure => {
                format!("the rendered text is longer than {MAX_RENDERED_BYTES} bytes")
            }
            kind => format!("{kind}{detail}{line}"),
        };
        RenderError { part, message }
    }
}

/// What a template may say about the recipient.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recipient {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub birthday: Option<NaiveDate>,
    pub attributes: serde_json::Value,
    /// This message's unsubscribe link (`{{ unsubscribe_url }}`).
    pub unsubscribe_url: Option<String>,
}

/// What a template may say about the campaign.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignVars {
    pub id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub channel: crate::vocabulary::Channel,
    /// Left out when unset, so the template sees it undefined (empty, `default` applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<DateTime<Utc>>,
}

/// A message's source: the text body always, a subject for e-mail (and a title for push), an
/// HTML body for e-mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
}

/// One entry of an execution's content, frozen at trigger time: the variant's key (A/B tests)
/// and its source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(flatten)]
    pub source: MessageSource,
}

/// One rendered message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html_body: Option<String>,
}

/// Compiled content of one message.
pub struct Content {
    env: Environment<'static>,
    has_subject: bool,
    has_html: bool,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Content")
    }
}

const PLACEHOLDERS: &[(&str, &str)] = &[
    ("[客户姓名]", "{{ name }}"),
    ("[姓名]", "{{ name }}"),
    ("[链接]", "{{ link }}"),
];

/// Variable names a template may use (`attributes` with anything below it).
const KNOWN_VARIABLES: &[&str] = &[
    "name",
    "email",
    "phone",
    "external_id",
    "locale",
    "time_zone",
    "birthday",
    "link",
    "unsubscribe_url",
    "campaign",
    "campaign.id",
    "campaign.name",
    "campaign.type",
    "campaign.start_time",
    "campaign.end_time",
];

const SUBJECT: &str = "subject";
const BODY: &str = "body";
const HTML: &str = "html_body.html";

fn part_name(template: &str) -> &'static str {
    match template {
        SUBJECT => "subject",
        HTML => "html_body",
        _ => "body",
    }
}

/// The sandbox every message is compiled in (also the save-time check's).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(50);
    // `none` (a `null` inside an attribute's list, say) prints as nothing, like undefined.
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.add_filter("datetime", filters::datetime);
    env.add_filter("date", filters::date);
    env.add_filter("plural", filters::plural);
    env.add_filter("number", filters::number);
    env
}

/// A customer's field as the template sees it: undefined when missing or blank.
fn field(value: Option<&str>) -> Value {
    value
        .filter(|v| !v.trim().is_empty())
        .map_or(Value::UNDEFINED, Value::from)
}

/// Attributes as the template sees them: an object member that is `null` is left out, so it is
/// undefined like one that is absent.
struct WithoutNulls<'a>(&'a serde_json::Value);

impl Serialize for WithoutNulls<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            serde_json::Value::Object(members) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in members.iter().filter(|(_, v)| !v.is_null()) {
                    map.serialize_entry(k, &WithoutNulls(v))?;
                }
                map.end()
            }
            serde_json::Value::Array(items) => s.collect_seq(items.iter().map(WithoutNulls)),
            other => other.serialize(s),
        }
    }
}

/// The variables a message is rendered with.
fn variables(recipient: &Recipient, campaign: &CampaignVars) -> Value {
    let name = recipient
        .name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| fallback_name(recipient.locale.as_deref()));
    context! {
        name => name,
        email => field(recipient.email.as_deref()),
        phone => field(recipient.phone.as_deref()),
        external_id => field(recipient.external_id.as_deref()),
        locale => field(recipient.locale.as_deref()),
        time_zone => field(recipient.time_zone.as_deref()),
        birthday => recipient.birthday.map_or(Value::UNDEFINED, |b| Value::from(b.to_string())),
        attributes => Serde(WithoutNulls(&recipient.attributes)),
        unsubscribe_url => field(recipient.unsubscribe_url.as_deref()),
        campaign => Serde(campaign),
    }
}

fn with_placeholders(source: &str) -> String {
    let mut source = source.to_owned();
    for (from, to) in PLACEHOLDERS {
        source = source.replace(from, to);
    }
    source
}

impl MessageSource {
    /// The parts it has, by template name.
    fn parts(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (SUBJECT, self.subject.as_deref()),
            (BODY, Some(self.body.as_str())),
            (HTML, self.html_body.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, text)| text.map(|t| (name, t)))
    }
}

impl Content {
    /// Compiles a message; syntax errors name the part and the line.
    pub fn compile(source: &MessageSource) -> Result<Self, RenderError> {
        let mut env = environment();
        for (name, text) in source.parts() {
            env.add_template_owned(name, with_placeholders(text))
                .map_err(|e| RenderError::new(part_name(name), &e))?;
        }
        Ok(Content {
            env,
            has_subject: source.subject.is_some(),
            has_html: source.html_body.is_some(),
        })
    }

    /// The variables the message uses, sorted; unknown ones are an error naming them.
    pub fn variables(&self) -> Result<Vec<String>, RenderError> {
        let mut used = BTreeSet::new();
        let globals: BTreeSet<&str> = self.env.globals().map(|(k, _)| k).collect();
        for name in [SUBJECT, BODY, HTML] {
            let Ok(template) = self.env.get_template(name) else {
                continue;
            };
            let vars: BTreeSet<String> = template
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| !globals.contains(v.split('.').next().unwrap_or(v)))
                .collect();
            let unknown: BTreeSet<&String> = vars
                .iter()
                .filter(|v| {
                    !(KNOWN_VARIABLES.contains(&v.as_str())
                        || *v == "attributes"
                        || v.starts_with("attributes."))
                })
                .collect();
            if !unknown.is_empty() {
                let unknown: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
                return Err(RenderError {
                    part: part_name(name),
                    message: format!(
                        "unknown variable(s): {}; known: {}, attributes.*",
                        unknown.join(", "),
                        KNOWN_VARIABLES.join(", ")
                    ),
                });
            }
            used.extend(vars);
        }
        Ok(used.into_iter().collect())
    }

    /// Renders the message for one recipient of a campaign. Without a subject template the
    /// campaign's name is the subject.
    pub fn render(
        &self,
        recipient: &Recipient,
        campaign: &CampaignVars,
    ) -> Result<Rendered, RenderError> {
        let ctx = variables(recipient, campaign);
        let subject = if self.has_subject {
            self.render_part(SUBJECT, ctx.clone())?.trim().to_owned()
        } else {
            campaign.name.clone()
        };
        let html_body = if self.has_html {
            Some(self.render_part(HTML, ctx.clone())?)
        } else {
            None
        };
        Ok(Rendered {
            subject,
            body: self.render_part(BODY, ctx)?,
            html_body,
        })
    }

    fn render_part(&self, name: &'static str, ctx: Value) -> Result<String, RenderError> {
        render_template(&self.env, name, ctx).map_err(|e| RenderError::new(part_name(name), &e))
    }
}

/// Renders one part within [`MAX_RENDERED_BYTES`].
fn render_template(env: &Environment, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
    let template = env.get_template(name)?;
    let mut out = LimitedWriter(Vec::new());
    template.render_captured_to(ctx, &mut out)?;
    String::from_utf8(out.0).map_err(|_| {
        minijinja::Error::new(
            ErrorKind::BadSerialization,
            "the rendered text is not valid UTF-8",
        )
    })
}

/// Collects output and refuses to grow past [`MAX_RENDERED_BYTES`].
struct LimitedWriter(Vec<u8>);

impl io::Write for LimitedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(io::Error::other("rendered output too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a customer without a name is addressed.
pub fn fallback_name(locale: Option<&str>) -> &'static str {
    match locale {
        Some(l) if l.to_ascii_lowercase().starts_with("zh") => "顾客",
        Some(_) => "Customer",
        None => "顾客",
    }
}

#[cfg(test)]
mod tests;
