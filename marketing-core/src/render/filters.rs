//! The filters content may use beyond minijinja's built-ins: times and dates in the customer's
//! time zone, locale-aware plurals and digit grouping (their syntax is in [`super`]).

use chrono::{DateTime, NaiveDate, Utc};
use minijinja::value::Kwargs;
use minijinja::{ErrorKind, State, Value};

fn invalid(msg: impl Into<String>) -> minijinja::Error {
    minijinja::Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The recipient's time zone from the render context (UTC when unset or unknown).
fn recipient_tz(state: &State) -> chrono_tz::Tz {
    state
        .lookup("time_zone")
        .and_then(|v| v.as_str().and_then(|s| s.parse::<chrono_tz::Tz>().ok()))
        .unwrap_or(chrono_tz::UTC)
}

fn to_utc(value: &Value) -> Result<Option<DateTime<Utc>>, minijinja::Error> {
    if value.is_undefined() || value.is_none() {
        return Ok(None);
    }
    if let Some(s) = value.as_str() {
        if s.is_empty() {
            return Ok(None);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Ok(Some(t.with_timezone(&Utc)));
        }
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
        }
        return Err(invalid(format!(
            "`{s}` is not a time (RFC 3339) or a date (YYYY-MM-DD)"
        )));
    }
    if let Ok(secs) = i64::try_from(value.clone()) {
        return Ok(DateTime::from_timestamp(secs, 0));
    }
    Err(invalid(format!("{value} is not a time")))
}

fn format_time(
    state: &State,
    value: &Value,
    kwargs: &Kwargs,
    default_format: &str,
    is_date: bool,
) -> Result<String, minijinja::Error> {
    let format: Option<String> = kwargs.get("format")?;
    kwargs.assert_all_used()?;
    let format = format.unwrap_or_else(|| default_format.to_owned());
    let items: Vec<chrono::format::Item> = chrono::format::StrftimeItems::new(&format).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        // Wrong for every customer: the save-time check refuses it.
        return Err(
            invalid(format!("`{format}` is not a valid strftime format"))
                .with_source(super::check::ContentFault),
        );
    }
    let Some(t) = to_utc(value)? else {
        return Ok(String::new());
    };
    // A bare date stays the same calendar day whatever the customer's time zone.
    let plain_date = is_date && value.as_str().is_some_and(|s| s.len() == 10);
    Ok(if plain_date {
        t.naive_utc()
            .format_with_items(items.into_iter())
            .to_string()
    } else {
        t.with_timezone(&recipient_tz(state))
            .format_with_items(items.into_iter())
            .to_string()
    })
}

pub(super) fn datetime(
    state: &State,
    value: Value,
    kwargs: Kwargs,
) -> Result<String, minijinja::Error> {
    format_time(state, &value, &kwargs, "%Y-%m-%d %H:%M", false)
}

pub(super) fn date(
    state: &State,
    value: Value,
    kwargs: Kwargs,
) -> Result<String, minijinja::Error> {
    format_time(state, &value, &kwargs, "%Y-%m-%d", true)
}

fn locale_of(state: &State) -> String {
    state
        .lookup("locale")
        .and_then(|v| v.as_str().map(|s| s.to_ascii_lowercase()))
        .unwrap_or_default()
}

pub(super) fn plural(
    state: &State,
    n: Value,
    one: String,
    other: String,
) -> Result<String, minijinja::Error> {
    let locale = locale_of(state);
    if ["zh", "ja", "ko"].iter().any(|l| locale.starts_with(l)) {
        return Ok(other);
    }
    if n.is_undefined() || n.is_none() {
        return Ok(other);
    }
    let n = f64::try_from(n).map_err(|_| invalid("plural needs a number"))?;
    Ok(if n == 1.0 { one } else { other })
}

pub(super) fn number(state: &State, n: Value) -> Result<String, minijinja::Error> {
    if n.is_undefined() || n.is_none() {
        return Ok(String::new());
    }
    let n = f64::try_from(n.clone()).map_err(|_| invalid(format!("{n} is not a number")))?;
    let locale = locale_of(state);
    let (group, decimal) = if ["de", "es", "it", "nl", "pt", "id", "tr"]
        .iter()
        .any(|l| locale.starts_with(l))
    {
        (".", ",")
    } else if ["fr", "ru", "pl", "cs", "sv", "fi", "nb", "uk"]
        .iter()
        .any(|l| locale.starts_with(l))
    {
        ("\u{202f}", ",")
    } else {
        (",", ".")
    };
    let text = if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    };
    let (sign, text) = text
        .strip_prefix('-')
        .map(|t| ("-", t))
        .unwrap_or(("", text.as_str()));
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push_str(group);
        }
        grouped.push(c);
    }
    Ok(if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{decimal}{frac}")
    })
}
