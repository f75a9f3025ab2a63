//! What messages cost: the price of one message per channel and provider (`MESSAGE_COSTS`), in
//! one currency (`COST_CURRENCY`), as exact integers of micro-units (a millionth of the
//! currency unit; `0.045` is 45,000). campaign-svc reads it for estimates, every worker for
//! what each message it sends costs and for the spend caps. No amount is ever a float: amounts
//! are parsed from and written as decimal text.

use std::collections::HashMap;
use std::fmt;

use crate::vocabulary::Channel;

/// Micro-units per currency unit.
const MICROS: i64 = 1_000_000;

/// The largest amount accepted anywhere (a billion units): sums of thousands of them stay below
/// `i64::MAX` micro-units (9.2 × 10¹² units).
pub const MAX_AMOUNT: Amount = Amount(1_000_000_000 * MICROS);

/// An exact amount of money in micro-units of the configured currency; never negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

/// Why a decimal amount was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("`{0}` is not a decimal amount such as 0.045")]
    NotDecimal(String),
    #[error("`{0}` has more than 6 decimal places")]
    TooPrecise(String),
    #[error("`{0}` is larger than {MAX_AMOUNT}")]
    TooLarge(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);

    /// An amount of `micros` micro-units (negative values are taken as 0).
    pub fn from_micros(micros: i64) -> Self {
        Amount(micros.max(0))
    }

    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Parses a non-negative decimal (`12`, `0.045`, `.5`, `3.`) with at most 6 decimal places;
    /// no sign, exponent or separators.
    pub fn parse(text: &str) -> Result<Self, AmountError> {
        let t = text.trim();
        let not_decimal = || AmountError::NotDecimal(text.to_owned());
        let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
            return Err(not_decimal());
        }
        if fraction.len() > 6 {
            return Err(AmountError::TooPrecise(text.to_owned()));
        }
        let too_large = || AmountError::TooLarge(text.to_owned());
        let whole: i64 = if whole.is_empty() {
            0
        } else if whole.trim_start_matches('0').len() > 12 {
            return Err(too_large());
        } else {
            whole.parse().map_err(|_| not_decimal())?
        };
        let mut fraction_micros: i64 = 0;
        for (i, b) in fraction.bytes().enumerate() {
            fraction_micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let amount = Amount(whole * MICROS + fraction_micros);
        if amount > MAX_AMOUNT {
            return Err(too_large());
        }
        Ok(amount)
    }
}

impl fmt::Display for Amount {
    /// The shortest exact decimal: `0.045`, `12`, `0.1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / MICROS;
        let fraction = self.0 % MICROS;
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:06}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

impl std::str::FromStr for Amount {
    type Err = AmountError;
    fn from_str(s: &str) -> Result<Self, AmountError> {
        Amount::parse(s)
    }
}

impl serde::Serialize for Amount {
    /// As decimal text, exact in every client (a JSON number would be a float in most).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// In the OpenAPI document: the decimal text it is written as (`"0.045"`, at most 6 decimals).
impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]+(\.[0-9]{1,6})?$"))
            .examples([serde_json::json!("0.045")])
            .into()
    }
}

impl utoipa::ToSchema for Amount {}

/// The price of one message per channel and provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCosts {
    prices: HashMap<(Channel, String), Amount>,
}

impl MessageCosts {
    /// Parses `MESSAGE_COSTS`: comma-separated `<channel>:<provider>=<price>` entries, e.g.
    /// `sms:aliyun=0.045,sms:tencent=0.05,email:ses=0.0001`. The provider is the name a record's
    /// `provider` shows (`aliyun`, `http`, `http-secondary`, …). Empty: every message costs 0.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut prices = HashMap::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad = |why: String| format!("MESSAGE_COSTS entry `{entry}`: {why}");
            let (key, price) = entry
                .split_once('=')
                .ok_or_else(|| bad("expected <channel>:<provider>=<price>".into()))?;
            let (channel, provider) = key
                .trim()
                .split_once(':')
                .ok_or_else(|| bad("expected <channel>:<provider>=<price>".into()))?;
            let channel: Channel = channel.trim().parse().map_err(|e| bad(format!("{e}")))?;
            let provider = provider.trim();
            let valid_name = !provider.is_empty()
                && provider.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !valid_name {
                return Err(bad(format!(
                    "`{provider}` is not a provider name (lowercase letters, digits, `-`, `_`)"
                )));
            }
            let price = Amount::parse(price).map_err(|e| bad(format!("price {e}")))?;
            if prices
                .insert((channel, provider.to_owned()), price)
                .is_some()
            {
                return Err(bad(format!("{channel}:{provider} is priced twice")));
            }
        }
        Ok(MessageCosts { prices })
    }

    /// The price of a message on `channel` through `provider` (0 when none is configured).
    pub fn price(&self, channel: Channel, provider: &str) -> Amount {
        self.prices
            .get(&(channel, provider.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Every priced (channel, provider).
    pub fn providers(&self) -> impl Iterator<Item = (Channel, &str)> {
        self.prices.keys().map(|(c, p)| (*c, p.as_str()))
    }
}

impl fmt::Display for MessageCosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries: Vec<String> = self
            .prices
            .iter()
            .map(|((c, p), a)| format!("{c}:{p}={a}"))
            .collect();
        entries.sort();
        f.write_str(&entries.join(","))
    }
}

/// An ISO 4217 currency code: three uppercase letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.len() == 3 && t.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Currency(t.to_owned()))
        } else {
            Err(format!(
                "COST_CURRENCY `{text}` is not a currency code of three uppercase letters (CNY, USD, …)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The cost settings both binaries read (same values on campaign-svc and every worker).
#[derive(Debug, Clone, clap::Args)]
pub struct CostArgs {
    /// Price of one message per channel and provider, comma-separated
    /// `<channel>:<provider>=<price>` in COST_CURRENCY (at most 6 decimals), e.g.
    /// `sms:aliyun=0.045,sms:tencent=0.05,email:ses=0.0001`; a provider without a price costs 0.
    #[arg(long, env = "MESSAGE_COSTS", default_value = "", value_parser = MessageCosts::parse)]
    pub message_costs: MessageCosts,
    /// Currency of MESSAGE_COSTS, of spend caps and of the costs in statistics (ISO 4217).
    #[arg(long, env = "COST_CURRENCY", default_value = "CNY", value_parser = Currency::parse)]
    pub cost_currency: Currency,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_exact_micro_units() {
        assert_eq!(Amount::parse("0.045").unwrap().micros(), 45_000);
        assert_eq!(Amount::parse("12").unwrap().micros(), 12_000_000);
        assert_eq!(Amount::parse(".5").unwrap().micros(), 500_000);
        assert_eq!(Amount::parse("3.").unwrap().micros(), 3_000_000);
        assert_eq!(Amount::parse("0.000001").unwrap().micros(), 1);
        assert_eq!(Amount::from_micros(45_000).to_string(), "0.045");
        assert_eq!(Amount::from_micros(90_000).to_string(), "0.09");
        assert_eq!(Amount::from_micros(2_000_000).to_string(), "2");
        assert_eq!(Amount::ZERO.to_string(), "0");
    }

    #[test]
    fn bad_amounts_are_refused() {
        for bad in ["", ".", "-1", "+1", "1e3", "0,5", "abc", "1.2.3", " 1 2"] {
            assert!(Amount::parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            Amount::parse("0.0000001"),
            Err(AmountError::TooPrecise(_))
        ));
        assert!(matches!(
            Amount::parse("99999999999999"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(Amount::parse(&MAX_AMOUNT.to_string()).is_ok());
    }

    #[test]
    fn message_costs_by_channel_and_provider() {
        let costs =
            MessageCosts::parse("sms:aliyun=0.045, sms:tencent=0.05,email:ses=0.0001,").unwrap();
        assert_eq!(costs.price(Channel::Sms, "aliyun").micros(), 45_000);
        assert_eq!(costs.price(Channel::Sms, "tencent").micros(), 50_000);
        assert_eq!(costs.price(Channel::Email, "ses").micros(), 100);
        assert_eq!(costs.price(Channel::Email, "smtp"), Amount::ZERO);
        assert_eq!(
            costs.to_string(),
            "email:ses=0.0001,sms:aliyun=0.045,sms:tencent=0.05"
        );
        assert_eq!(MessageCosts::parse("").unwrap(), MessageCosts::default());
    }

    #[test]
    fn bad_message_costs_name_the_setting_and_the_entry() {
        for bad in [
            "sms:aliyun",
            "sms=0.1",
            "fax:aliyun=0.1",
            "sms:Aliyun=0.1",
            "sms:=0.1",
            "sms:aliyun=-0.1",
            "sms:aliyun=0.1234567",
            "sms:aliyun=0.1,sms:aliyun=0.2",
        ] {
            let err = MessageCosts::parse(bad).unwrap_err();
            assert!(err.starts_with("MESSAGE_COSTS entry `"), "{bad}: {err}");
        }
    }

    #[test]
    fn currencies() {
        assert_eq!(Currency::parse("CNY").unwrap().as_str(), "CNY");
        for bad in ["cny", "CN", "YUAN", ""] {
            assert!(Currency::parse(bad).unwrap_err().contains("COST_CURRENCY"));
        }
    }

    proptest! {
        #[test]
        fn display_parses_back(micros in 0i64..=MAX_AMOUNT.micros()) {
            let a = Amount::from_micros(micros);
            prop_assert_eq!(Amount::parse(&a.to_string()), Ok(a));
        }
    }
}
