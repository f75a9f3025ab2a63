//! The shared state of each provider's gate (`provider_gates`, one row per provider of a
//! channel): its rate-limit reservations and its throttling pause. Every statement is one round
//! trip on a row of a few columns, creating it when missing.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Double, Integer};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::prepared::{Bind, Prepared};

/// Reserves `$2` seconds' worth of tokens (n / rate) on the provider `$1`'s clock: the clock
/// (`tat`) moves on from where the last reservation ended, from the end of a pause, or from now
/// less a credit of `$3` seconds when the provider was idle (never further back: an idle
/// provider banks no more than the credit). Answers when the reservation ends, in seconds from
/// now; the tokens fall due one by one before that, one every 1 / rate.
const RESERVE_SQL: &str = "
INSERT INTO provider_gates AS g (provider, tat)
VALUES ($1, clock_timestamp() - make_interval(secs => $3) + make_interval(secs => $2))
ON CONFLICT (provider) DO UPDATE
SET tat = greatest(g.tat, clock_timestamp() - make_interval(secs => $3), g.paused_until)
          + make_interval(secs => $2)
RETURNING extract(epoch FROM g.tat - clock_timestamp())::float8 AS secs";

/// Seconds the provider `$1` stays paused (0 or less: not paused). Unlimited providers ask this
/// instead of reserving: a read, no row version.
const PAUSE_LEFT_SQL: &str = "
SELECT COALESCE(extract(epoch FROM max(paused_until) - clock_timestamp()), 0)::float8 AS secs
FROM provider_gates WHERE provider = $1";

/// The provider `$1` answered a throttling error: pause it for every worker. `$2`: the vendor's
/// `Retry-After` in seconds (0 when none), `$3`: the first pause (jittered), `$4`: the longest.
///
/// - During a pause (an answer to a request sent before the pause was known): the pause stays,
///   lengthened only to a longer `Retry-After`.
/// - Soon after a pause ended (within twice its length, at least a second): the vendor still
///   throttles, so the next pause doubles (`throttle_level` + 1).
/// - Later: a new episode, the first pause again.
///
/// A pause is never shorter than the `Retry-After` nor longer than `$4`.
const THROTTLE_SQL: &str = "
INSERT INTO provider_gates AS g (provider, paused_until, throttle_level, throttled_at)
VALUES ($1, clock_timestamp() + make_interval(secs => least($4, greatest($2, $3))), 1, clock_timestamp())
ON CONFLICT (provider) DO UPDATE SET
    throttle_level = CASE
        WHEN g.paused_until > clock_timestamp() THEN g.throttle_level
        WHEN g.paused_until > clock_timestamp()
                              - greatest(interval '1 second', 2 * (g.paused_until - g.throttled_at))
            THEN least(g.throttle_level + 1, 20)
        ELSE 1 END,
    throttled_at = CASE WHEN g.paused_until > clock_timestamp() THEN g.throttled_at
                        ELSE clock_timestamp() END,
    paused_until = CASE
        WHEN g.paused_until > clock_timestamp()
            THEN greatest(g.paused_until, clock_timestamp() + make_interval(secs => least($4, $2)))
        ELSE clock_timestamp() + make_interval(secs => least($4, greatest($2, $3 * power(2, CASE
            WHEN g.paused_until > clock_timestamp()
                                  - greatest(interval '1 second', 2 * (g.paused_until - g.throttled_at))
                THEN least(g.throttle_level + 1, 20) - 1
            ELSE 0 END))))
        END
RETURNING extract(epoch FROM g.paused_until - clock_timestamp())::float8 AS secs,
          g.throttle_level AS level";

#[derive(QueryableByName)]
struct Secs {
    #[diesel(sql_type = Double)]
    secs: f64,
}

#[derive(QueryableByName)]
struct Throttled {
    #[diesel(sql_type = Double)]
    secs: f64,
    #[diesel(sql_type = Integer)]
    level: i32,
}

/// A pause every worker keeps.
#[derive(Debug, Clone, Copy)]
pub struct Pause {
    /// How long it lasts from now.
    pub left: Duration,
    /// How many throttles in a row it answers (1: the first pause).
    pub level: i32,
}

/// Seconds from now (possibly negative: already due) when `span` seconds of tokens reserved for
/// `provider` end. See [`RESERVE_SQL`].
pub async fn reserve(
    conn: &mut AsyncPgConnection,
    provider: &str,
    span: f64,
    credit: f64,
) -> diesel::QueryResult<f64> {
    let row: Secs = Prepared {
        sql: RESERVE_SQL,
        binds: vec![
            Bind::Text(provider),
            Bind::Double(span),
            Bind::Double(credit),
        ],
    }
    .get_result(conn)
    .await?;
    Ok(row.secs)
}

/// How long `provider` stays paused (zero when it is not).
pub async fn pause_left(
    conn: &mut AsyncPgConnection,
    provider: &str,
) -> diesel::QueryResult<Duration> {
    let row: Secs = Prepared {
        sql: PAUSE_LEFT_SQL,
        binds: vec![Bind::Text(provider)],
    }
    .get_result(conn)
    .await?;
    Ok(seconds(row.secs))
}

/// Pauses `provider` for every worker after a throttling answer. See [`THROTTLE_SQL`].
pub async fn throttle(
    conn: &mut AsyncPgConnection,
    provider: &str,
    retry_after: Option<Duration>,
    first: Duration,
    longest: Duration,
) -> diesel::QueryResult<Pause> {
    let row: Throttled = Prepared {
        sql: THROTTLE_SQL,
        binds: vec![
            Bind::Text(provider),
            Bind::Double(retry_after.unwrap_or_default().as_secs_f64()),
            Bind::Double(first.as_secs_f64()),
            Bind::Double(longest.as_secs_f64()),
        ],
    }
    .get_result(conn)
    .await?;
    Ok(Pause {
        left: seconds(row.secs),
        level: row.level,
    })
}

/// A non-negative duration from seconds (negative, NaN: zero).
pub fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)
}
