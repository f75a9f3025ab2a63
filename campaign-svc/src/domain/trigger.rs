//! When a campaign sends (its `trigger`): once (the seed's manual trigger, or its `start_time`)
//! or on a recurring schedule, `{"kind": "recurring", "cron": "0 9 * * *", "time_zone":
//! "Asia/Shanghai"}`: each occurrence between `start_time` and `end_time` is one execution with
//! its own audience, resolved at that moment.
//!
//! Cron patterns are the usual five fields (minute, hour, day of month, month, day of week) with
//! an optional leading seconds field, evaluated in the schedule's IANA time zone (so `0 9 * * *`
//! stays 09:00 local across daylight-saving changes). Occurrences closer together than the
//! service's `MIN_RECURRENCE_SECS` are refused (an execution per second would flood the queue).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A campaign's trigger, valid.
#[derive(Debug, Clone)]
pub enum CampaignTrigger {
    Once,
    Recurring(Box<Schedule>),
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
        if let Some(extra) = obj
            .keys()
            .find(|k| !["kind", "cron", "time_zone"].contains(&k.as_str()))
        {
            return Err(Error::invalid(
                format!("trigger.{extra}"),
                "is not a field of a trigger (kind, cron, time_zone)",
            ));
        }
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
                Ok(CampaignTrigger::Once)
            }
            Some("recurring") => {
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
                format!("`{other}` is not one of: once recurring"),
            )),
        }
    }

    /// A trigger as stored (it passed [`CampaignTrigger::parse`] when saved).
    pub fn stored(v: &Value) -> Result<Self> {
        Self::parse(v, 0)
            .map_err(|e| Error::Internal(anyhow::anyhow!("stored campaign trigger {v}: {e}")))
    }

    pub fn to_json(&self) -> Value {
        match self {
            CampaignTrigger::Once => json!({"kind": "once"}),
            CampaignTrigger::Recurring(s) => json!({
                "kind": "recurring",
                "cron": s.cron,
                "time_zone": s.time_zone.name(),
            }),
        }
    }

    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            CampaignTrigger::Recurring(s) => Some(s),
            CampaignTrigger::Once => None,
        }
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
