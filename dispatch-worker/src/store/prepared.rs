//! [`Prepared`]: a statement of fixed text diesel may cache per connection, with its binds.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{
    Array, BigInt, Double, Integer, Nullable, Text, Timestamptz, Untyped, Uuid as SqlUuid,
};
use uuid::Uuid;

/// A statement of fixed text whose `$n` placeholders take `binds[n - 1]`. Unlike `sql_query`,
/// diesel may cache it: it is prepared on a connection's first use and then only bound and
/// executed.
pub(super) struct Prepared<'q> {
    pub sql: &'static str,
    pub binds: Vec<Bind<'q>>,
}

pub(super) enum Bind<'q> {
    Uuids(&'q [Uuid]),
    Int(i32),
    Texts(&'q [&'static str]),
    Times(&'q [Option<DateTime<Utc>>]),
    OptionalTexts(&'q [Option<String>]),
    OptionalStrs(&'q [Option<&'q str>]),
    Text(&'q str),
    Double(f64),
    BigInts(&'q [i64]),
    OptionalBigInts(&'q [Option<i64>]),
    Ints(&'q [i32]),
}

impl Bind<'_> {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        match self {
            Bind::Uuids(v) => out.push_bind_param::<Array<SqlUuid>, _>(*v),
            Bind::Int(v) => out.push_bind_param::<Integer, _>(v),
            Bind::Texts(v) => out.push_bind_param::<Array<Text>, _>(*v),
            Bind::Times(v) => out.push_bind_param::<Array<Nullable<Timestamptz>>, _>(*v),
            Bind::OptionalTexts(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(*v),
            Bind::OptionalStrs(v) => out.push_bind_param::<Array<Nullable<Text>>, _>(*v),
            Bind::Text(v) => out.push_bind_param::<Text, _>(*v),
            Bind::Double(v) => out.push_bind_param::<Double, _>(v),
            Bind::BigInts(v) => out.push_bind_param::<Array<BigInt>, _>(*v),
            Bind::OptionalBigInts(v) => out.push_bind_param::<Array<Nullable<BigInt>>, _>(*v),
            Bind::Ints(v) => out.push_bind_param::<Array<Integer>, _>(*v),
        }
    }
}

impl QueryFragment<Pg> for Prepared<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let digits = rest[at + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let bind = rest[at + 1..at + 1 + digits]
                .parse::<usize>()
                .ok()
                .and_then(|n| self.binds.get(n.checked_sub(1)?))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        format!("no bind for `{}`", &rest[at..at + 1 + digits]).into(),
                    )
                })?;
            bind.push(&mut out)?;
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryId for Prepared<'_> {
    type QueryId = ();
    // No static id: the statement cache keys these by their SQL text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Prepared<'_> {
    type SqlType = Untyped;
}
