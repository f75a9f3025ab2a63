//! The domain's closed sets of words (channels, statuses), stored as text and parsed at the edge.

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
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

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
    /// A delivery channel; also a campaign's `type`.
    Channel { Sms => "sms", Email => "email", PushNotification => "push_notification" }
}

text_enum! {
    /// What a customer can opt out of: one channel, or everything.
    OptOutScope { Sms => "sms", Email => "email", PushNotification => "push_notification", All => "all" }
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
    fn unknown_word_lists_the_accepted_ones() {
        let err = "fax".parse::<Channel>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`fax` is not one of: sms email push_notification"
        );
    }
}
