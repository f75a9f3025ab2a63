//! Bearer-token authentication, shared by both transports.
//!
//! Tokens come from `API_TOKENS`. The caller's id (stored as `created_by`/`updated_by`) is a
//! UUIDv5 of the token, so it is stable and reveals nothing of the token; an internal service
//! acting for a user may name that user with `x-actor-id: <uuid>`. Tokens in `ADMIN_TOKENS` are
//! API tokens too and also open the admin API (the dead-letter queue).

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, Result};

/// Header (REST) and metadata key (gRPC) that names the user an internal service acts for.
pub const ACTOR_HEADER: &str = "x-actor-id";

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub id: Uuid,
    /// Presented a token of `ADMIN_TOKENS`.
    pub admin: bool,
}

impl Caller {
    /// Refuses callers that are not admins (403 / PERMISSION_DENIED).
    pub fn require_admin(&self) -> Result<()> {
        if self.admin {
            Ok(())
        } else {
            Err(Error::PermissionDenied(
                "this operation needs an admin token (one listed in ADMIN_TOKENS)".into(),
            ))
        }
    }
}

/// Checks bearer tokens against the configured set.
#[derive(Clone)]
pub struct Authenticator {
    /// Each token, its caller id and whether it is an admin's.
    tokens: Arc<Vec<(String, Uuid, bool)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({} tokens)", self.tokens.len())
    }
}

impl Authenticator {
    /// Builds from `API_TOKENS` and `ADMIN_TOKENS`; when `API_TOKENS` is unset or empty,
    /// generates one (non-admin) token and returns it too, so that start-up can log it once.
    pub fn from_config(
        api_tokens: Option<&str>,
        admin_tokens: Option<&str>,
    ) -> (Self, Option<String>) {
        let list = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let configured = list(api_tokens);
        let admins = list(admin_tokens);
        let (tokens, generated) = if configured.is_empty() {
            let token = format!("mkt_{}", Uuid::new_v4().simple());
            (vec![token.clone()], Some(token))
        } else {
            (configured, None)
        };
        let tokens = tokens
            .into_iter()
            .filter(|t| !admins.contains(t))
            .map(|t| (t, false))
            .chain(admins.iter().cloned().map(|t| (t, true)))
            .map(|(t, admin)| {
                let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, t.as_bytes());
                (t, id, admin)
            })
            .collect();
        (
            Authenticator {
                tokens: Arc::new(tokens),
            },
            generated,
        )
    }

    /// Authenticates an `authorization` header value and an optional actor id.
    pub fn authenticate(&self, authorization: Option<&str>, actor: Option<&str>) -> Result<Caller> {
        let presented = authorization
            .and_then(bearer_credentials)
            .ok_or(Error::Unauthenticated)?;
        let (id, admin) = self
            .tokens
            .iter()
            .find(|(t, _, _)| constant_time_eq(t.as_bytes(), presented.as_bytes()))
            .map(|(_, id, admin)| (*id, *admin))
            .ok_or(Error::Unauthenticated)?;
        match actor.map(str::trim).filter(|a| !a.is_empty()) {
            None => Ok(Caller { id, admin }),
            Some(a) => Uuid::try_parse(a)
                .map(|id| Caller { id, admin })
                .map_err(|_| Error::invalid(ACTOR_HEADER, format!("`{a}` is not a valid UUID"))),
        }
    }
}

/// The token of a `Bearer` credential: the scheme is case-insensitive and separated from the
/// token by spaces or tabs (RFC 7235 §2.1, RFC 9110 §11.1).
fn bearer_credentials(header: &str) -> Option<&str> {
    let header = header.trim_matches([' ', '\t']);
    let split = header.find([' ', '\t'])?;
    let (scheme, token) = header.split_at(split);
    let token = token.trim_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares without an early exit, so response time does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_configured_tokens_only() {
        let (auth, generated) = Authenticator::from_config(Some("alpha, beta"), None);
        assert!(generated.is_none());
        let a = auth.authenticate(Some("Bearer alpha"), None).unwrap();
        let b = auth.authenticate(Some("Bearer beta"), None).unwrap();
        assert_ne!(a.id, b.id);
        assert!(auth.authenticate(Some("Bearer gamma"), None).is_err());
        assert!(auth.authenticate(Some("alpha"), None).is_err());
        assert!(auth.authenticate(None, None).is_err());
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_any_blank_separates_it() {
        let (auth, _) = Authenticator::from_config(Some("alpha"), None);
        for header in [
            "Bearer alpha",
            "bearer alpha",
            "BEARER alpha",
            "bEaReR alpha",
            "Bearer\talpha",
            "Bearer   alpha  ",
            " Bearer alpha",
        ] {
            assert!(auth.authenticate(Some(header), None).is_ok(), "{header:?}");
        }
        for header in [
            "Bearer",
            "Bearer ",
            "Beareralpha",
            "Basic alpha",
            "Bearer alpha beta",
        ] {
            assert!(auth.authenticate(Some(header), None).is_err(), "{header:?}");
        }
    }

    #[test]
    fn generates_a_token_when_none_configured() {
        let (auth, generated) = Authenticator::from_config(None, None);
        let token = generated.unwrap();
        assert!(
            auth.authenticate(Some(&format!("Bearer {token}")), None)
                .is_ok()
        );
    }

    #[test]
    fn actor_overrides_the_caller_id() {
        let (auth, _) = Authenticator::from_config(Some("alpha"), None);
        let actor = Uuid::new_v4();
        let c = auth
            .authenticate(Some("Bearer alpha"), Some(&actor.to_string()))
            .unwrap();
        assert_eq!(c.id, actor);
        let err = auth
            .authenticate(Some("Bearer alpha"), Some("bob"))
            .unwrap_err();
        assert_eq!(err.field(), Some(ACTOR_HEADER));
    }

    #[test]
    fn admin_tokens_are_api_tokens_that_open_the_admin_api() {
        let (auth, generated) = Authenticator::from_config(Some("alpha"), Some("root, alpha2"));
        assert!(generated.is_none());
        let user = auth.authenticate(Some("Bearer alpha"), None).unwrap();
        let admin = auth.authenticate(Some("Bearer root"), None).unwrap();
        assert!(!user.admin && user.require_admin().is_err());
        assert!(admin.admin && admin.require_admin().is_ok());
        assert!(
            auth.authenticate(Some("Bearer alpha2"), None)
                .unwrap()
                .admin
        );
        let (auth, _) = Authenticator::from_config(Some("alpha"), None);
        assert!(!auth.authenticate(Some("Bearer alpha"), None).unwrap().admin);
    }
}
