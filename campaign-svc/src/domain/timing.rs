//! When a recipient's message may leave: at a local time of day (`send_at_local: "09:00"`, the
//! next such time after the trigger) and outside quiet hours (`quiet_hours: {"start": "21:00",
//! "end": "08:00"}`, `[start, end)` on the local clock, possibly across midnight; a message due
//! inside waits for the end), both on the **customer's** clock (`time_zone`, else the campaign's,
//! else UTC). A message that may leave at once has no `not_before`.
//!
//! Local times that do not exist (a daylight-saving gap) move to the first instant after the gap;
//! ones that happen twice (clocks going back) take the first.

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::campaign::CampaignFields;
use crate::error::{Error, Result};
use marketing_core::models::CampaignRow;

/// A quiet window on the local clock, `[start, end)`; `start == end` is no window at all (a
/// campaign's way to opt out of the service-wide default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    #[serde(with = "clock")]
    pub start: NaiveTime,
    #[serde(with = "clock")]
    pub end: NaiveTime,
}

/// The timing rules of an execution, frozen at its trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_clock")]
    pub send_at_local: Option<NaiveTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// The zone of customers without one.
    #[serde(with = "zone")]
    pub time_zone: Tz,
}

/// `HH:MM` or `HH:MM:SS`, naming `field` when it is neither.
pub fn parse_clock(field: &str, s: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(s.trim(), "%H:%M:%S"))
        .map_err(|_| Error::invalid(field, format!("`{s}` is not a time of day such as 09:00")))
}

/// An IANA zone, naming `field` when it is not one.
pub fn parse_zone(field: &str, s: &str) -> Result<Tz> {
    s.trim().parse::<Tz>().map_err(|_| {
        Error::invalid(
            field,
            format!("`{s}` is not an IANA time zone such as Asia/Shanghai"),
        )
    })
}

impl QuietHours {
    /// `{"start": "21:00", "end": "08:00"}` as a client sends it.
    pub fn parse(v: &Value) -> Result<Self> {
        let Value::Object(obj) = v else {
            return Err(Error::invalid(
                "quiet_hours",
                "must be an object with `start` and `end`",
            ));
        };
        if let Some(extra) = obj.keys().find(|k| !["start", "end"].contains(&k.as_str())) {
            return Err(Error::invalid(
                format!("quiet_hours.{extra}"),
                "is not a field of quiet hours (start, end)",
            ));
        }
        let clock = |key: &str| match obj.get(key) {
            Some(Value::String(s)) => parse_clock(&format!("quiet_hours.{key}"), s),
            _ => Err(Error::invalid(
                format!("quiet_hours.{key}"),
                "is required (a time of day such as 21:00)",
            )),
        };
        Ok(QuietHours {
            start: clock("start")?,
            end: clock("end")?,
        })
    }

    /// `"21:00-08:00"` (the service-wide default's spelling).
    pub fn parse_range(s: &str) -> std::result::Result<Self, String> {
        let (start, end) = s
            .split_once('-')
            .ok_or_else(|| format!("`{s}` is not a window such as 21:00-08:00"))?;
        let clock = |t: &str| parse_clock("QUIET_HOURS", t).map_err(|e| e.to_string());
        Ok(QuietHours {
            start: clock(start)?,
            end: clock(end)?,
        })
    }

    fn contains(&self, t: NaiveTime) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Less => self.start <= t && t < self.end,
            std::cmp::Ordering::Greater => t >= self.start || t < self.end,
            std::cmp::Ordering::Equal => false,
        }
    }
}

/// The first instant after `at` whose local time in `zone` is `time`.
fn next_local(at: DateTime<Utc>, zone: Tz, time: NaiveTime) -> DateTime<Utc> {
    let local_day = at.with_timezone(&zone).date_naive();
    for day in 0..3 {
        let wall = (local_day + Duration::days(day)).and_time(time);
        let instant = zone
            .from_local_datetime(&wall)
            .earliest()
            // A gap: the wall time does not exist; the first instant after it does.
            .or_else(|| {
                zone.from_local_datetime(&(wall + Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc));
        if let Some(t) = instant.filter(|t| *t > at) {
            return t;
        }
    }
    at
}

impl Timing {
    /// When a message to a customer in `zone` (the campaign's when `None`) may leave, from
    /// `at`: the next `send_at_local`, then out of quiet hours. `at` itself when nothing waits.
    pub fn send_time(&self, at: DateTime<Utc>, zone: Option<Tz>) -> DateTime<Utc> {
        let zone = zone.unwrap_or(self.time_zone);
        let mut t = match self.send_at_local {
            Some(local) => next_local(at, zone, local),
            None => at,
        };
        if let Some(quiet) = self.quiet_hours
            && quiet.contains(t.with_timezone(&zone).time())
        {
            t = next_local(t, zone, quiet.end);
        }
        t
    }

    /// Send times from `at` for every IANA zone (the freeze joins customers to it by their
    /// zone; a message for a customer in a zone not listed leaves at the campaign's time).
    pub fn table(&self, at: DateTime<Utc>) -> (Vec<String>, Vec<DateTime<Utc>>) {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|z| (z.name().to_owned(), self.send_time(at, Some(*z))))
            .unzip()
    }
}

/// A campaign's delivery timing, checked: `None` = not given, `Some(None)` = cleared.
#[derive(Debug, Clone, Default)]
pub struct TimingPatch {
    pub send_at_local: Option<Option<String>>,
    pub time_zone: Option<Option<String>>,
    pub quiet_hours: Option<Option<serde_json::Value>>,
}

impl TimingPatch {
    pub fn parse(f: &CampaignFields) -> Result<Self> {
        let send_at_local = f
            .send_at_local
            .clone()
            .map(|o| {
                o.filter(|s| !s.trim().is_empty())
                    .map(|s| {
                        parse_clock("send_at_local", &s).map(|t| t.format("%H:%M:%S").to_string())
                    })
                    .transpose()
            })
            .transpose()?;
        let time_zone = f
            .time_zone
            .clone()
            .map(|o| {
                o.filter(|s| !s.trim().is_empty())
                    .map(|s| parse_zone("time_zone", &s).map(|z| z.name().to_owned()))
                    .transpose()
            })
            .transpose()?;
        let quiet_hours = f
            .quiet_hours
            .clone()
            .map(|o| {
                o.filter(|v| !v.is_null())
                    .map(|v| {
                        QuietHours::parse(&v).and_then(|q| {
                            serde_json::to_value(q).map_err(|e| Error::Internal(e.into()))
                        })
                    })
                    .transpose()
            })
            .transpose()?;
        Ok(TimingPatch {
            send_at_local,
            time_zone,
            quiet_hours,
        })
    }

    pub fn apply(self, row: &mut CampaignRow) {
        if let Some(v) = self.send_at_local {
            row.send_at_local = v;
        }
        if let Some(v) = self.time_zone {
            row.time_zone = v;
        }
        if let Some(v) = self.quiet_hours {
            row.quiet_hours = v;
        }
    }
}

mod clock {
    use chrono::NaiveTime;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.format("%H:%M:%S").to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_clock("time", &s).map_err(serde::de::Error::custom)
    }
}

mod opt_clock {
    use chrono::NaiveTime;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<NaiveTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::clock::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::parse_clock("time", &s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

mod zone {
    use chrono_tz::Tz;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(z: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(z.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn nine() -> Timing {
        Timing {
            send_at_local: Some(NaiveTime::from_hms_opt(9, 0, 0).unwrap()),
            quiet_hours: None,
            time_zone: chrono_tz::Asia::Shanghai,
        }
    }

    #[test]
    fn nine_local_in_each_zone() {
        let t = nine();
        let now = at("2026-12-01T03:00:00Z"); // 11:00 in Shanghai, 04:00 in Berlin, 22:00 in New York
        assert_eq!(t.send_time(now, None), at("2026-12-02T01:00:00Z"));
        assert_eq!(
            t.send_time(now, Some(chrono_tz::Europe::Berlin)),
            at("2026-12-01T08:00:00Z")
        );
        assert_eq!(
            t.send_time(now, Some(chrono_tz::America::New_York)),
            at("2026-12-01T14:00:00Z")
        );
    }

    #[test]
    fn daylight_saving_gaps_and_repeats() {
        // 02:30 does not exist in Berlin on 2026-03-29; 01:30 happens twice in New York on
        // 2026-11-01.
        let t = Timing {
            send_at_local: Some(NaiveTime::from_hms_opt(2, 30, 0).unwrap()),
            ..nine()
        };
        assert_eq!(
            t.send_time(at("2026-03-28T12:00:00Z"), Some(chrono_tz::Europe::Berlin)),
            at("2026-03-29T01:30:00Z")
        );
        let t = Timing {
            send_at_local: Some(NaiveTime::from_hms_opt(1, 30, 0).unwrap()),
            ..nine()
        };
        assert_eq!(
            t.send_time(
                at("2026-10-31T12:00:00Z"),
                Some(chrono_tz::America::New_York)
            ),
            at("2026-11-01T05:30:00Z")
        );
    }

    #[test]
    fn quiet_hours_wrap_midnight_and_hold_messages_until_their_end() {
        let t = Timing {
            send_at_local: None,
            quiet_hours: Some(QuietHours::parse_range("21:00-08:00").unwrap()),
            time_zone: chrono_tz::Asia::Shanghai,
        };
        // 23:00 in Shanghai: waits for 08:00; 12:00: leaves at once; 07:59:59 waits a second.
        assert_eq!(
            t.send_time(at("2026-12-01T15:00:00Z"), None),
            at("2026-12-02T00:00:00Z")
        );
        assert_eq!(
            t.send_time(at("2026-12-01T04:00:00Z"), None),
            at("2026-12-01T04:00:00Z")
        );
        assert_eq!(
            t.send_time(at("2026-12-01T23:59:59Z"), None),
            at("2026-12-02T00:00:00Z")
        );
        let empty = Timing {
            quiet_hours: Some(QuietHours::parse_range("00:00-00:00").unwrap()),
            ..t.clone()
        };
        assert_eq!(
            empty.send_time(at("2026-12-01T15:00:00Z"), None),
            at("2026-12-01T15:00:00Z")
        );
        // A local send time inside quiet hours waits for their end.
        let late = Timing {
            send_at_local: Some(NaiveTime::from_hms_opt(22, 0, 0).unwrap()),
            ..t
        };
        assert_eq!(
            late.send_time(at("2026-12-01T04:00:00Z"), None),
            at("2026-12-02T00:00:00Z")
        );
        assert_eq!(
            late.table(at("2026-12-01T04:00:00Z")).0.len(),
            chrono_tz::TZ_VARIANTS.len()
        );
    }

    #[test]
    fn bad_clocks_name_the_field() {
        assert_eq!(
            parse_clock("send_at_local", "25:00").unwrap_err().field(),
            Some("send_at_local")
        );
        assert!(parse_clock("send_at_local", "09:00").is_ok());
        let err = QuietHours::parse(&serde_json::json!({"start": "21:00"})).unwrap_err();
        assert_eq!(err.field(), Some("quiet_hours.end"));
        let t = nine();
        let round: Timing = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(round, t);
    }
}
