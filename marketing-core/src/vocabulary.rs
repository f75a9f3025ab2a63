//! The domain's closed sets of words (channels, statuses): typed on both sides of every boundary.
//! Each is stored as `TEXT` (with a CHECK constraint listing the same words), read and written
//! by diesel as the enum itself (`AsExpression`/`FromSqlRow`, as crates.io's `pg_enum!` does),
//! serialised by serde as its word, and parsed from requests at the edge: no status is a string
//! compared to a literal anywhere in the code.

use std::fmt;

/// A word outside the closed set it was parsed into; `expected` lists the accepted words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{got}` is not one of: {expected}")]
pub struct UnknownWord {
    pub got: String,
    pub expected: &'static str,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $($variant),+ }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write as _;
                out.write_all(self.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let word = std::str::from_utf8(value.as_bytes())?;
                Ok(word.parse::<$name>()?)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let word = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                word.parse().map_err(serde::de::Error::custom)
            }
        }

        /// In the OpenAPI document: a string, one of the words.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        got: s.to_owned(),
                        expected: concat!($($text, " "),+).trim_ascii_end(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// A delivery channel; also a campaign's `type`. `wechat` is a WeChat official account's
    /// template message to a follower's `openid`.
    Channel {
        Sms => "sms",
        Email => "email",
        PushNotification => "push_notification",
        Wechat => "wechat",
    }
}

text_enum! {
    /// What a customer can opt out of: one channel, or everything.
    OptOutScope {
        Sms => "sms",
        Email => "email",
        PushNotification => "push_notification",
        Wechat => "wechat",
        All => "all",
    }
}

text_enum! {
    /// A campaign's lifecycle: draft → scheduled → active → completed → archived.
    CampaignStatus {
        Draft => "draft",
        Scheduled => "scheduled",
        Active => "active",
        Completed => "completed",
        Archived => "archived",
    }
}

text_enum! {
    /// A record's delivery state; `sending` marks a record claimed durably before it is sent:
    /// a job that came back to a worker after another died (at-least-once channels, sent again),
    /// or any job of an at-most-once channel (never sent again: a dead worker's `sending` record
    /// ends `failed` with "outcome unknown"). First deliveries of at-least-once channels stay
    /// `pending` until their outcome is written.
    RecordStatus {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Delivered => "delivered",
        Failed => "failed",
        Opened => "opened",
        Clicked => "clicked",
    }
}

text_enum! {
    /// A real send, or a dry run that contacts nobody.
    ExecutionType { Actual => "actual", Simulation => "simulation" }
}

text_enum! {
    /// Where an execution stands: its records are on their way, or every one is final.
    ExecutionStatus { Running => "running", Completed => "completed", Failed => "failed" }
}

impl CampaignStatus {
    /// Content and schedule may change only before the campaign starts.
    pub fn is_editable(self) -> bool {
        matches!(self, CampaignStatus::Draft | CampaignStatus::Scheduled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_round_trips() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
        }
        for s in RecordStatus::ALL {
            assert_eq!(s.as_str().parse::<RecordStatus>(), Ok(*s));
        }
    }

    #[test]
    fn words_travel_as_json_strings() {
        assert_eq!(
            serde_json::to_string(&Channel::PushNotification).unwrap(),
            "\"push_notification\""
        );
        assert_eq!(
            serde_json::from_str::<RecordStatus>("\"sending\"").unwrap(),
            RecordStatus::Sending
        );
        let err = serde_json::from_str::<Channel>("\"fax\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("sms email push_notification wechat"),
            "{err}"
        );
    }

    #[test]
    fn unknown_word_lists_the_accepted_ones() {
        let err = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`fax` is not one of: sms email push_notification wechat"
        );
    }
}
