//! When a campaign sends (its `trigger`): once (the seed's manual trigger, or its `start_time`),
//! on a recurring schedule, `{"kind": "recurring", "cron": "0 9 * * *", "time_zone":
//! "Asia/Shanghai"}`: each occurrence between `start_time` and `end_time` is one execution with
//! its own audience, resolved at that moment; or on customer events, `{"kind": "event", "event":
//! "order_paid", "where"?, "delay_seconds"?, "once_per_customer"?, "cooldown_hours"?}`: each
//! matching event sends the campaign to its customer after the delay.
//!
//! Cron patterns are the usual five fields (minute, hour, day of month, month, day of week) with
//! an optional leading seconds field, evaluated in the schedule's IANA time zone (so `0 9 * * *`
//! stays 09:00 local across daylight-saving changes). Occurrences closer together than the
//! service's `MIN_RECURRENCE_SECS` are refused (an execution per second would flood the queue).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use marketing_core::segment::{PropertyRule, evaluate_properties, event_name_problem};

use crate::error::{Error, Result};

/// A campaign's trigger, valid.
#[derive(Debug, Clone)]
pub enum CampaignTrigger {
    Once,
    Recurring(Box<Schedule>),
    Event(Box<EventTrigger>),
    /// A journey's send step (`{"kind": "journey", "journey_id", "version", "step"}`): the
    /// journey runner enqueues its sends, one per customer reaching the step, and the event
    /// dispatcher writes them. Made by the journey, never by a client.
    Journey(JourneyStep),
}

/// Which journey step a campaign sends for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyStep {
    pub journey_id: uuid::Uuid,
    pub version: i32,
    pub step: String,
}

impl JourneyStep {
    pub fn to_json(&self) -> Value {
        json!({
            "kind": "journey",
            "journey_id": self.journey_id.to_string(),
            "version": self.version,
            "step": self.step,
        })
    }

    fn stored(v: &Value) -> Option<Self> {
        Some(JourneyStep {
            journey_id: uuid::Uuid::parse_str(v.get("journey_id")?.as_str()?).ok()?,
            version: i32::try_from(v.get("version")?.as_i64()?).ok()?,
            step: v.get("step")?.as_str()?.to_owned(),
        })
    }
}

/// Longest delay of an event-triggered send (30 days).
pub const MAX_EVENT_DELAY_SECS: i64 = 30 * 24 * 3600;
/// Longest cooldown of an event-triggered campaign (one year).
pub const MAX_COOLDOWN_HOURS: i64 = 366 * 24;

/// An event-triggered campaign's trigger.
#[derive(Debug, Clone)]
pub struct EventTrigger {
    /// The event's name.
    pub event: String,
    /// A rule over the event's properties (`{"property": "amount", "op": ">", "value": 100}`,
    /// combined with and / or / not): as given, and parsed.
    pub where_rule: Option<(Value, PropertyRule)>,
    /// Seconds between the event and the send (0 to 30 days).
    pub delay_seconds: i64,
    /// At most one message per customer, ever, from this campaign.
    pub once_per_customer: bool,
    /// No second message to a customer within this many hours of the last one.
    pub cooldown_hours: Option<i64>,
}

/// A recurring campaign's schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: String,
    pub time_zone: Tz,
    parsed: croner::Cron,
}

impl CampaignTrigger {
    /// Reads a `trigger` as a client sends it, naming the bad field (`trigger.cron`). Patterns
    /// whose occurrences come closer than `min_interval` seconds are refused.
    pub fn parse(v: &Value, min_interval: u64) -> Result<Self> {
        let Value::Object(obj) = v else {
            return Err(Error::invalid("trigger", "must be an object with a `kind`"));
        };
        const FIELDS: [&str; 8] = [
            "kind",
            "cron",
            "time_zone",
            "event",
            "where",
            "delay_seconds",
            "once_per_customer",
            "cooldown_hours",
        ];
        if let Some(extra) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(Error::invalid(
                format!("trigger.{extra}"),
                format!("is not a field of a trigger ({})", FIELDS.join(", ")),
            ));
        }
        let only = |kind: &str, allowed: &[&str]| match obj
            .iter()
            .find(|(k, v)| !v.is_null() && k.as_str() != "kind" && !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(Error::invalid(
                format!("trigger.{k}"),
                format!("is not a field of a `{kind}` trigger"),
            )),
            None => Ok(()),
        };
        let text = |key: &str| match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(_) => Err(Error::invalid(format!("trigger.{key}"), "must be a string")),
        };
        match text("kind")? {
            None | Some("once") => {
                if obj.contains_key("cron") || obj.contains_key("time_zone") {
                    return Err(Error::invalid(
                        "trigger.kind",
                        "a `cron` and `time_zone` need the kind `recurring`",
                    ));
                }
                only("once", &[])?;
                Ok(CampaignTrigger::Once)
            }
            Some("event") => {
                only("event", &FIELDS[3..])?;
                Ok(CampaignTrigger::Event(Box::new(EventTrigger::parse(obj)?)))
            }
            Some("recurring") => {
                only("recurring", &["cron", "time_zone"])?;
                let cron = text("cron")?
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| Error::invalid("trigger.cron", "is required"))?;
                let zone = text("time_zone")?
                    .filter(|z| !z.is_empty())
                    .ok_or_else(|| {
                        Error::invalid(
                            "trigger.time_zone",
                            "is required (an IANA time zone such as Asia/Shanghai)",
                        )
                    })?;
                let schedule = Schedule::parse(cron, zone)?;
                schedule.check_interval(min_interval)?;
                Ok(CampaignTrigger::Recurring(Box::new(schedule)))
            }
            Some(other) => Err(Error::invalid(
                "trigger.kind",
                format!("`{other}` is not one of: once recurring event"),
            )),
        }
    }

    /// A trigger as stored (it passed [`CampaignTrigger::parse`] when saved).
    pub fn stored(v: &Value) -> Result<Self> {
        if v.get("kind").and_then(Value::as_str) == Some("journey") {
            return JourneyStep::stored(v)
                .map(CampaignTrigger::Journey)
                .ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "stored journey step trigger {v} is malformed"
                    ))
                });
        }
        Self::parse(v, 0)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored campaign trigger {v}: {e}")))
    }

    /// Refuses a change made to a journey's send step through the campaigns API.
    pub fn check_not_journey(&self, campaign: uuid::Uuid) -> Result<()> {
        match self {
            CampaignTrigger::Journey(j) => Err(Error::Conflict(format!(
                "campaign {campaign} is step `{}` of journey {}: change, pause or archive the journey instead",
                j.step, j.journey_id
            ))),
            _ => Ok(()),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            CampaignTrigger::Once => json!({"kind": "once"}),
            CampaignTrigger::Recurring(s) => json!({
                "kind": "recurring",
                "cron": s.cron,
                "time_zone": s.time_zone.name(),
            }),
            CampaignTrigger::Journey(j) => j.to_json(),
            CampaignTrigger::Event(e) => {
                let mut v = json!({
                    "kind": "event",
                    "event": e.event,
                    "delay_seconds": e.delay_seconds,
                    "once_per_customer": e.once_per_customer,
                });
                if let Some((rule, _)) = &e.where_rule {
                    v["where"] = rule.clone();
                }
                if let Some(h) = e.cooldown_hours {
                    v["cooldown_hours"] = h.into();
                }
                v
            }
        }
    }

    pub fn event(&self) -> Option<&EventTrigger> {
        match self {
            CampaignTrigger::Event(e) => Some(e),
            _ => None,
        }
    }

    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            CampaignTrigger::Recurring(s) => Some(s),
            CampaignTrigger::Once | CampaignTrigger::Event(_) | CampaignTrigger::Journey(_) => None,
        }
    }
}

impl EventTrigger {
    /// How the event dispatcher sends a journey's send step: every enqueued send, at once, with
    /// no rule, delay or per-customer limit of its own (the journey decides who reaches it).
    pub fn journey_step() -> Self {
        EventTrigger {
            event: String::new(),
            where_rule: None,
            delay_seconds: 0,
            once_per_customer: false,
            cooldown_hours: None,
        }
    }

    /// Whether an event with these properties passes the trigger's rule (always without one).
    pub fn matches(&self, properties: &Value) -> bool {
        match &self.where_rule {
            None => true,
            Some((_, rule)) => evaluate_properties(rule, properties),
        }
    }

    fn parse(obj: &serde_json::Map<String, Value>) -> Result<Self> {
        let event = match obj.get("event") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => {
                return Err(Error::invalid(
                    "trigger.event",
                    "is required: the name of the event that sends the campaign",
                ));
            }
            Some(_) => {
                return Err(Error::invalid(
                    "trigger.event",
                    "must be a non-blank event name",
                ));
            }
        };
        if let Some(problem) = event_name_problem(&event) {
            return Err(Error::invalid("trigger.event", problem));
        }
        let number = |key: &str, max: i64| match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (0..=max).contains(&n) => Ok(Some(n)),
                _ => Err(Error::invalid(
                    format!("trigger.{key}"),
                    format!("must be a whole number from 0 to {max}"),
                )),
            },
        };
        let delay_seconds = number("delay_seconds", MAX_EVENT_DELAY_SECS)?.unwrap_or(0);
        let cooldown_hours = number("cooldown_hours", MAX_COOLDOWN_HOURS)?.filter(|h| *h > 0);
        let once_per_customer = match obj.get("once_per_customer") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(Error::invalid(
                    "trigger.once_per_customer",
                    "must be true or false",
                ));
            }
        };
        let where_rule = match obj.get("where") {
            None | Some(Value::Null) => None,
            Some(rule) => {
                let parsed = PropertyRule::parse(rule)
                    .map_err(|e| Error::invalid(format!("trigger.{}", e.path), e.message))?;
                Some((rule.clone(), parsed))
            }
        };
        Ok(EventTrigger {
            event,
            where_rule,
            delay_seconds,
            once_per_customer,
            cooldown_hours,
        })
    }
}

impl Schedule {
    fn parse(cron: &str, zone: &str) -> Result<Self> {
        let time_zone = zone.parse::<Tz>().map_err(|_| {
            Error::invalid(
                "trigger.time_zone",
                format!("`{zone}` is not an IANA time zone such as Asia/Shanghai"),
            )
        })?;
        let parsed = cron.parse::<croner::Cron>().map_err(|e| {
            Error::invalid(
                "trigger.cron",
                format!("`{cron}` is not a cron pattern such as `0 9 * * *`: {e}"),
            )
        })?;
        Ok(Schedule {
            cron: cron.to_owned(),
            time_zone,
            parsed,
        })
    }

    /// Refuses a pattern whose next two occurrences are closer than `min_secs`.
    fn check_interval(&self, min_secs: u64) -> Result<()> {
        let first = self.occurrence(Utc::now(), false);
        let second = first.and_then(|t| self.occurrence(t, false));
        match (first, second) {
            (Some(a), Some(b)) if (b - a).num_seconds() < min_secs as i64 => Err(Error::invalid(
                "trigger.cron",
                format!(
                    "runs every {} s; occurrences must be at least {min_secs} s apart (MIN_RECURRENCE_SECS)",
                    (b - a).num_seconds()
                ),
            )),
            (None, _) => Err(Error::invalid(
                "trigger.cron",
                format!("`{}` has no coming occurrence", self.cron),
            )),
            _ => Ok(()),
        }
    }

    /// The first occurrence after `t` (at `t` too when `inclusive`).
    fn occurrence(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        self.parsed
            .find_next_occurrence(&t.with_timezone(&self.time_zone), inclusive)
            .ok()
            .map(|local| local.with_timezone(&Utc))
    }

    /// The first occurrence at or after `from`, if one comes before `until`.
    pub fn first_from(
        &self,
        from: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        self.occurrence(from, true)
            .filter(|t| until.is_none_or(|end| *t < end))
    }

    /// The first occurrence strictly after `after`, if one comes before `until`.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) -> Option<DateTime<Utc>> {
        self.occurrence(after, false)
            .filter(|t| until.is_none_or(|end| *t < end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_daily_schedule_is_local_time_across_daylight_saving() {
        let t = CampaignTrigger::parse(
            &json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "Europe/Berlin"}),
            60,
        )
        .unwrap();
        let s = t.schedule().unwrap();
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        assert_eq!(
            s.next_after(at("2026-03-28T12:00:00Z"), None),
            Some(at("2026-03-29T07:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-03-27T12:00:00Z"), None),
            Some(at("2026-03-28T08:00:00Z"))
        );
        assert_eq!(
            s.first_from(at("2026-03-28T08:00:00Z"), None),
            Some(at("2026-03-28T08:00:00Z"))
        );
        assert_eq!(
            s.next_after(at("2026-03-28T08:00:00Z"), Some(at("2026-03-29T00:00:00Z"))),
            None
        );
        assert_eq!(
            t.to_json(),
            json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "Europe/Berlin"})
        );
    }

    #[test]
    fn bad_triggers_name_the_field() {
        for (v, field) in [
            (json!("recurring"), "trigger"),
            (json!({"kind": "weekly"}), "trigger.kind"),
            (
                json!({"kind": "recurring", "time_zone": "UTC"}),
                "trigger.cron",
            ),
            (
                json!({"kind": "recurring", "cron": "0 9 * * *"}),
                "trigger.time_zone",
            ),
            (
                json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "Mars/Base"}),
                "trigger.time_zone",
            ),
            (
                json!({"kind": "recurring", "cron": "99 9 * * *", "time_zone": "UTC"}),
                "trigger.cron",
            ),
            (
                json!({"kind": "recurring", "cron": "* * * * *", "time_zone": "UTC"}),
                "trigger.cron",
            ),
            (
                json!({"kind": "recurring", "cron": "0 0 30 2 *", "time_zone": "UTC"}),
                "trigger.cron",
            ),
            (json!({"kind": "once", "cron": "0 9 * * *"}), "trigger.kind"),
            (
                json!({"kind": "recurring", "cron": "0 9 * * *", "time_zone": "UTC", "x": 1}),
                "trigger.x",
            ),
        ] {
            let err = CampaignTrigger::parse(&v, 120).unwrap_err();
            assert_eq!(err.field(), Some(field), "{v}: {err}");
        }
        assert!(matches!(
            CampaignTrigger::parse(&json!({}), 60).unwrap(),
            CampaignTrigger::Once
        ));
    }
}
