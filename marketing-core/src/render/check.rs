//! The save-time check: what is wrong with content for **every** customer is refused when a
//! template or a campaign is saved, not discovered record by record when sending. What depends
//! on one customer's data (an attribute they lack, or hold as text where a number is expected)
//! cannot be judged then: such a customer's message fails at send time, that record only.
//!
//! Refused: syntax errors and unknown variables (from [`Content::compile`] and
//! [`Content::variables`]); then, by rendering each part for a sample customer without
//! attributes: unknown filters, tests, functions and methods, wrong argument counts, invalid
//! formats given to our filters, `include`/`import`/`extends` (there is no loader), endless
//! loops (fuel) and output over [`MAX_RENDERED_BYTES`].
//!
//! When the sample render stops at an error that depends on data, the check does not stop
//! there: it sets the failing expression aside (replaces it with `''`, keeping its line breaks
//! so later lines keep their numbers) and renders again, up to [`MAX_SET_ASIDE`] times, so a
//! fault after `{{ attributes.points | round }}` is still found. Limits: a fault inside the very
//! expression set aside (`{{ (attributes.p * 2) | nosuch }}`), or in a branch the sample
//! customer does not take (`{% if attributes.vip %}…{% endif %}`), or after a data-dependent
//! failure minijinja gives no position for (one in an expression written over several lines), is
//! found only when a customer's message is rendered; an operation that fails on constants alone (`{{ 1 / 0 }}`)
//! reads as data-dependent and fails every record at send time.

use chrono::{NaiveDate, Utc};
use minijinja::value::Rest;
use minijinja::{ErrorKind, Value};

use super::{
    CampaignVars, Content, MessageSource, Recipient, RenderError, environment, part_name,
    render_template, variables, with_placeholders,
};

/// Data-dependent failures one part's check sets aside before it stops looking further.
const MAX_SET_ASIDE: usize = 32;
/// The filter a failing filter gives way to; it exists only in the check's environment.
const SET_ASIDE: &str = "__set_aside__";

/// Marks an error that is the content's own fault (an invalid format given to a filter, say)
/// although minijinja reports it as an invalid operation, so the check refuses it.
#[derive(Debug)]
pub(super) struct ContentFault;

impl std::fmt::Display for ContentFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the content itself is wrong, whatever the customer")
    }
}

impl std::error::Error for ContentFault {}

/// Whether `e` comes from one customer's data rather than from the content.
fn depends_on_data(e: &minijinja::Error) -> bool {
    let own_fault = std::error::Error::source(e).is_some_and(|s| s.is::<ContentFault>());
    !own_fault
        && matches!(
            e.kind(),
            ErrorKind::InvalidOperation
                | ErrorKind::UndefinedError
                | ErrorKind::NonPrimitive
                | ErrorKind::NonKey
                | ErrorKind::CannotUnpack
                | ErrorKind::CannotDeserialize
        )
}

/// A customer with every field but no attributes: what the check renders for.
fn sample() -> (Recipient, CampaignVars) {
    let recipient = Recipient {
        name: Some("Sample".into()),
        email: Some("sample@example.com".into()),
        phone: Some("+8613800000000".into()),
        external_id: Some("sample".into()),
        locale: Some("zh-CN".into()),
        time_zone: Some("Asia/Shanghai".into()),
        birthday: NaiveDate::from_ymd_opt(1990, 6, 15),
        attributes: serde_json::json!({}),
        unsubscribe_url: Some("https://example.com/u/sample".into()),
    };
    let campaign = CampaignVars {
        id: uuid::Uuid::nil(),
        name: "Sample campaign".into(),
        channel: crate::vocabulary::Channel::Sms,
        start_time: Some(Utc::now()),
        end_time: Some(Utc::now()),
    };
    (recipient, campaign)
}

/// Compiles `source`, checks its variables and renders each part for a sample customer (see the
/// module's comment): what saving a template or a campaign runs. Returns the variables used.
pub fn check(source: &MessageSource) -> Result<Vec<String>, RenderError> {
    let content = Content::compile(source)?;
    let used = content.variables()?;
    let (recipient, campaign) = sample();
    let ctx = variables(&recipient, &campaign);
    for (name, text) in source.parts() {
        check_part(name, with_placeholders(text), &ctx)?;
    }
    Ok(used)
}

/// Renders one part for the sample, setting aside what fails on the sample's data.
fn check_part(name: &'static str, mut text: String, ctx: &Value) -> Result<(), RenderError> {
    for _ in 0..MAX_SET_ASIDE {
        let mut env = environment();
        env.add_filter(SET_ASIDE, |_: Rest<Value>| "");
        // Debug mode makes errors carry the failing expression's byte range.
        env.set_debug(true);
        if env.add_template_owned(name, text.clone()).is_err() {
            // Setting an expression aside broke the syntax: the check can look no further.
            return Ok(());
        }
        let e = match render_template(&env, name, ctx.clone()) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if !depends_on_data(&e) {
            return Err(RenderError::new(part_name(name), &e));
        }
        let Some(range) = e.range().filter(|r| {
            r.start < r.end && text.is_char_boundary(r.start) && text.is_char_boundary(r.end)
        }) else {
            return Ok(());
        };
        let failing = &text[range.clone()];
        if failing == "''" || failing == SET_ASIDE {
            return Ok(());
        }
        // A failing filter is reported as its name and arguments: it gives way to one that
        // accepts anything. Any other failing expression gives way to `''`.
        let is_filter = text[..range.start].trim_end().ends_with('|');
        let set_aside = format!(
            "{}{}",
            if is_filter { SET_ASIDE } else { "''" },
            "\n".repeat(failing.matches('\n').count())
        );
        text.replace_range(range, &set_aside);
    }
    Ok(())
}
