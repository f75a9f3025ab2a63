//! Customers as the CRM pushes them in, validated; and the customer as callers see it.

use chrono::{DateTime, Datelike as _, Utc};
use marketing_core::models::CustomerRow;
use serde::Serialize;
use uuid::Uuid;

use super::bounded_text;
use super::campaign::parse_tags;
use crate::error::{Error, Result};

/// Most customers one bulk call may carry.
pub const MAX_BULK: usize = 10_000;
const MAX_ATTRIBUTES_BYTES: usize = 64 * 1024;

/// A customer as a transport delivers it; every field unchecked.
#[derive(Debug, Clone, Default)]
pub struct CustomerFields {
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub push_token: Option<String>,
    pub wechat_openid: Option<String>,
    pub tags: Option<Vec<String>>,
    pub attributes: Option<serde_json::Value>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
}

/// A customer that passed every check; serialised as one row of the bulk upsert.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ValidCustomer {
    pub external_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub push_token: Option<String>,
    pub wechat_openid: Option<String>,
    pub tags: Vec<String>,
    pub attributes: serde_json::Value,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub birthday: Option<chrono::NaiveDate>,
}

impl ValidCustomer {
    /// Checks every field; `prefix` names the customer in a bulk call (`customers[3].`). Phone
    /// numbers without a country code are read as numbers of `region`.
    pub fn parse(f: CustomerFields, prefix: &str, region: PhoneRegion) -> Result<Self> {
        let field = |name: &str| format!("{prefix}{name}");
        let external_id = f.external_id.unwrap_or_default().trim().to_owned();
        if external_id.is_empty() {
            return Err(Error::invalid(field("external_id"), "is required"));
        }
        let external_id = bounded_text(&field("external_id"), &external_id, 200)?;
        let name = non_blank(f.name)
            .map(|n| bounded_text(&field("name"), &n, 200))
            .transpose()?;
        let email = non_blank(f.email)
            .map(|e| {
                if email_address::EmailAddress::is_valid(&e) {
                    Ok(e)
                } else {
                    Err(Error::invalid(
                        field("email"),
                        format!("`{e}` is not an e-mail address"),
                    ))
                }
            })
            .transpose()?;
        let phone = non_blank(f.phone)
            .map(|p| parse_phone(&field("phone"), &p, region))
            .transpose()?;
        let push_token = non_blank(f.push_token)
            .map(|t| bounded_text(&field("push_token"), &t, 4096))
            .transpose()?;
        let wechat_openid = non_blank(f.wechat_openid)
            .map(|o| parse_openid(&field("wechat_openid"), &o))
            .transpose()?;
        let tags = parse_tags(&field("tags"), f.tags.unwrap_or_default())?;
        let attributes = match f.attributes {
            None | Some(serde_json::Value::Null) => serde_json::json!({}),
            Some(v @ serde_json::Value::Object(_)) => {
                if v.to_string().len() > MAX_ATTRIBUTES_BYTES {
                    return Err(Error::invalid(
                        field("attributes"),
                        "must be at most 64 KiB",
                    ));
                }
                v
            }
            Some(_) => return Err(Error::invalid(field("attributes"), "must be a JSON object")),
        };
        let locale = non_blank(f.locale)
            .map(|l| parse_locale(&field("locale"), &l))
            .transpose()?;
        let time_zone = non_blank(f.time_zone)
            .map(|z| match z.parse::<chrono_tz::Tz>() {
                Ok(_) => Ok(z),
                Err(_) => Err(Error::invalid(
                    field("time_zone"),
                    format!("`{z}` is not an IANA time zone such as Asia/Shanghai"),
                )),
            })
            .transpose()?;
        let birthday = non_blank(f.birthday)
            .map(|b| {
                chrono::NaiveDate::parse_from_str(&b, "%Y-%m-%d")
                    .ok()
                    .filter(|d| d.year() >= 1900 && *d <= Utc::now().date_naive())
                    .ok_or_else(|| {
                        Error::invalid(
                            field("birthday"),
                            format!("`{b}` is not a past date such as 1990-06-15"),
                        )
                    })
            })
            .transpose()?;
        Ok(ValidCustomer {
            external_id,
            name,
            email,
            phone,
            push_token,
            wechat_openid,
            tags,
            attributes,
            locale,
            time_zone,
            birthday,
        })
    }
}

/// A WeChat `openid`: 28 characters of `[A-Za-z0-9_-]` for official accounts today; up to 64 of
/// them are accepted so a longer id the vendor may issue is not refused, anything else is.
fn parse_openid(field: &str, value: &str) -> Result<String> {
    let ok = value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            field,
            "must be a WeChat openid: at most 64 letters, digits, `_` or `-`",
        ))
    }
}

fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The region of phone numbers written without a country code (`DEFAULT_PHONE_REGION`).
pub type PhoneRegion = phonenumber::country::Id;

/// A phone number valid in its region's numbering plan (libphonenumber's metadata), stored in
/// E.164 (`+8613800138000`): `+86 138-0013-8000` and `(138) 0013-8000` (region CN) are the same
/// number; `1234567` is none. Numbers of other regions are written with `+` and their country
/// code.
pub(crate) fn parse_phone(field: &str, s: &str, region: PhoneRegion) -> Result<String> {
    let refused = || {
        Error::invalid(
            field,
            format!("`{s}` is not a valid phone number such as +8613800138000"),
        )
    };
    if s.chars().count() > 64 {
        return Err(refused());
    }
    // phonenumber 0.3 strips the *default region's* national prefix after any country code
    // (`+86 138…` read with region US lost its `1`), so a number with its country code is read
    // without a region, and a national one must come out in the region's own country code (an
    // international call prefix such as `011 86 …` would be misread the same way: refused).
    let international = s.trim_start().starts_with('+');
    let number =
        phonenumber::parse((!international).then_some(region), s).map_err(|_| refused())?;
    let region_code = phonenumber::metadata::DATABASE
        .by_id(region.as_ref())
        .map(|m| m.country_code());
    if !phonenumber::is_valid(&number)
        || (!international && region_code != Some(number.code().value()))
    {
        return Err(refused());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// A BCP 47-like tag: `zh`, `zh-CN`, `en_US`, `zh-Hans-CN`.
fn parse_locale(field: &str, s: &str) -> Result<String> {
    let mut parts = s.split(['-', '_']);
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok =
        parts.all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if lang_ok && rest_ok {
        Ok(s.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!("`{s}` is not a locale such as zh-CN"),
        ))
    }
}

/// Where a customer can opt out, and when they did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OptOut {
    pub customer_id: Uuid,
    pub channel: String,
    pub created_at: DateTime<Utc>,
}

/// A customer as both APIs return it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub push_token: Option<String>,
    pub wechat_openid: Option<String>,
    pub tags: Vec<String>,
    pub attributes: serde_json::Value,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub birthday: Option<chrono::NaiveDate>,
    pub opt_outs: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    pub fn from_row(r: CustomerRow, opt_outs: Vec<String>) -> Self {
        Customer {
            id: r.id,
            external_id: r.external_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            push_token: r.push_token,
            wechat_openid: r.wechat_openid,
            tags: r.tags,
            attributes: r.attributes,
            locale: r.locale,
            time_zone: r.time_zone,
            birthday: r.birthday,
            opt_outs,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// What a bulk upsert did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkOutcome {
    pub created: u64,
    pub updated: u64,
    /// The customers' ids, in the order of the request.
    pub ids: Vec<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CustomerFields {
        CustomerFields {
            external_id: Some("crm-1".into()),
            ..Default::default()
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(CustomerFields, &str)> = vec![
            (CustomerFields::default(), "external_id"),
            (
                CustomerFields {
                    email: Some("nope".into()),
                    ..base()
                },
                "email",
            ),
            (
                CustomerFields {
                    phone: Some("12ab".into()),
                    ..base()
                },
                "phone",
            ),
            (
                CustomerFields {
                    time_zone: Some("Mars/Base".into()),
                    ..base()
                },
                "time_zone",
            ),
            (
                CustomerFields {
                    locale: Some("x".into()),
                    ..base()
                },
                "locale",
            ),
            (
                CustomerFields {
                    attributes: Some(serde_json::json!([1])),
                    ..base()
                },
                "attributes",
            ),
            (
                CustomerFields {
                    tags: Some(vec!["".into()]),
                    ..base()
                },
                "tags[0]",
            ),
        ];
        for (fields, expected) in cases {
            let err = ValidCustomer::parse(fields, "customers[2].", PhoneRegion::CN).unwrap_err();
            assert_eq!(
                err.field(),
                Some(format!("customers[2].{expected}").as_str())
            );
        }
    }

    #[test]
    fn normalises_what_it_keeps() {
        let c = ValidCustomer::parse(
            CustomerFields {
                name: Some("  张三 ".into()),
                phone: Some("+86 138-0013-8000".into()),
                time_zone: Some("Asia/Shanghai".into()),
                locale: Some("zh-CN".into()),
                ..base()
            },
            "",
            PhoneRegion::CN,
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("张三"));
        assert_eq!(c.phone.as_deref(), Some("+8613800138000"));
        assert_eq!(c.attributes, serde_json::json!({}));
    }

    #[test]
    fn phone_numbers_follow_the_numbering_plan_of_their_region() {
        let phone = |p: &str, region: PhoneRegion| {
            ValidCustomer::parse(
                CustomerFields {
                    phone: Some(p.into()),
                    ..base()
                },
                "",
                region,
            )
            .map(|c| c.phone.unwrap_or_default())
        };
        for same in [
            "+86 138-0013-8000",
            "(138) 0013-8000",
            "138 0013 8000",
            "008613800138000",
        ] {
            assert_eq!(
                phone(same, PhoneRegion::CN).unwrap(),
                "+8613800138000",
                "{same}"
            );
        }
        assert_eq!(
            phone("(415) 555-2671", PhoneRegion::US).unwrap(),
            "+14155552671"
        );
        assert_eq!(
            phone("+86 138 0013 8000", PhoneRegion::US).unwrap(),
            "+8613800138000"
        );
        // Misread by the parser (it drops the `1`): refused rather than stored wrong.
        assert!(phone("011 86 138 0013 8000", PhoneRegion::US).is_err());
        for bad in [
            "1234567",
            "12ab",
            "+86 1380013800",
            "+999 1234 5678",
            "0000000000",
        ] {
            let err = phone(bad, PhoneRegion::CN).unwrap_err();
            assert_eq!(err.field(), Some("phone"), "{bad}");
        }
    }
}
