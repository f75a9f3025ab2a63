//! Personalised content: a campaign's text compiled once as a sandboxed minijinja template and
//! rendered per recipient. The template sees only the values given to it: no files, no network,
//! bounded work (fuel) and bounded output.
//!
//! Variables: `name`, `email`, `phone`, `external_id`, `locale`, `time_zone`, `attributes.*`,
//! `campaign.name`. The seed's bracket placeholders (`[客户姓名]`, `[姓名]`, `[链接]`) mean
//! `{{ name }}` and `{{ link }}`. A missing value renders empty, and a missing name renders a
//! locale-aware fallback, so no raw placeholder ever reaches a customer.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;

/// Largest rendered message, in bytes.
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Template instructions one render may execute (stops loops that would never end).
const FUEL: u64 = 100_000;

/// Why content could not be compiled or rendered, in words a marketer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

impl From<minijinja::Error> for RenderError {
    fn from(e: minijinja::Error) -> Self {
        let line = e.line().map(|l| format!(" (line {l})")).unwrap_or_default();
        let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
        RenderError(format!("{}{detail}{line}", e.kind()))
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
    pub attributes: serde_json::Value,
}

/// Compiled content of one campaign.
pub struct Content {
    env: Environment<'static>,
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

impl Content {
    /// Compiles `source`; syntax errors name the line.
    pub fn compile(source: &str) -> Result<Self, RenderError> {
        let mut source = source.to_owned();
        for (from, to) in PLACEHOLDERS {
            source = source.replace(from, to);
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_fuel(Some(FUEL));
        env.set_recursion_limit(50);
        env.add_template_owned("content", source)?;
        Ok(Content { env })
    }

    /// Renders for one recipient of campaign `campaign_name`.
    pub fn render(
        &self,
        recipient: &Recipient,
        campaign_name: &str,
    ) -> Result<String, RenderError> {
        let template = self.env.get_template("content")?;
        let name = recipient
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| fallback_name(recipient.locale.as_deref()).to_owned());
        let out = template.render(context! {
            name => name,
            email => recipient.email.as_deref(),
            phone => recipient.phone.as_deref(),
            external_id => recipient.external_id.as_deref(),
            locale => recipient.locale.as_deref(),
            time_zone => recipient.time_zone.as_deref(),
            attributes => Serde(&recipient.attributes),
            campaign => context! { name => campaign_name },
        })?;
        if out.len() > MAX_RENDERED_BYTES {
            return Err(RenderError(format!(
                "rendered content is {} bytes, more than the {MAX_RENDERED_BYTES} allowed",
                out.len()
            )));
        }
        Ok(out)
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
mod tests {
    use super::*;

    fn zhang() -> Recipient {
        Recipient {
            name: Some("张三".into()),
            attributes: serde_json::json!({"city": "上海", "points": 120}),
            ..Default::default()
        }
    }

    #[test]
    fn seed_placeholders_and_variables() {
        let c = Content::compile(
            "亲爱的[客户姓名]，{{ attributes.city }}的{{campaign.name}}：{{ attributes.points }}分",
        )
        .unwrap();
        assert_eq!(
            c.render(&zhang(), "六月").unwrap(),
            "亲爱的张三，上海的六月：120分"
        );
    }

    #[test]
    fn missing_values_never_leave_a_placeholder() {
        let c = Content::compile("Hi {{ name }}, {{ attributes.nothing.deeper }}[链接]").unwrap();
        let anon = Recipient {
            locale: Some("en-US".into()),
            ..Default::default()
        };
        assert_eq!(c.render(&anon, "x").unwrap(), "Hi Customer, ");
        let c = Content::compile("亲爱的[客户姓名]").unwrap();
        assert_eq!(c.render(&Recipient::default(), "x").unwrap(), "亲爱的顾客");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = Content::compile("line one\n{{ name ").unwrap_err();
        assert!(err.0.contains("line 2"), "{err}");
    }

    #[test]
    fn endless_or_huge_templates_are_stopped() {
        let c = Content::compile(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        assert!(c.render(&zhang(), "x").is_err());
        let c = Content::compile("{{ 'x' * 100000 }}{{ 'y' * 100000 }}{{ 'z' * 100000 }}").unwrap();
        assert!(c.render(&zhang(), "x").is_err());
    }
}
