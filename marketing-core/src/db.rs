//! Database set-up: create the database when missing, apply migrations once across replicas, pool.

use anyhow::Context as _;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl as _};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The pooled connection type both binaries use.
pub type PgPool = Pool<AsyncPgConnection>;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations");

/// Arbitrary but fixed key of the advisory lock that serialises migrations between replicas.
const MIGRATION_LOCK_KEY: i64 = 0x6d6b_745f_6d69_6772; // "mkt_migr"

/// Splits `postgres://…/name?opts` into the URL of the server's `postgres` database and `name`.
pub fn split_database_url(url: &str) -> anyhow::Result<(String, String)> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let slash = base
        .rfind('/')
        .context("DATABASE_URL has no database name")?;
    if base[..slash].ends_with('/') {
        anyhow::bail!("DATABASE_URL has no database name");
    }
    let name = &base[slash + 1..];
    if name.is_empty() {
        anyhow::bail!("DATABASE_URL has no database name");
    }
    let mut admin = format!("{}/postgres", &base[..slash]);
    if let Some(q) = query {
        admin.push('?');
        admin.push_str(q);
    }
    Ok((admin, name.to_owned()))
}

/// Creates the database named in `url` when it does not exist yet (two replicas may race: the
/// loser's "already exists" is fine).
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    if AsyncPgConnection::establish(url).await.is_ok() {
        return Ok(());
    }
    let (admin_url, name) = split_database_url(url)?;
    let mut admin = AsyncPgConnection::establish(&admin_url)
        .await
        .with_context(|| {
            format!("connecting to the server's `postgres` database to create `{name}`")
        })?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match diesel::sql_query(format!("CREATE DATABASE {quoted}"))
        .execute(&mut admin)
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created database");
            Ok(())
        }
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("already exists") =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating database `{name}`")),
    }
}

/// Applies pending migrations under a session advisory lock, so replicas starting together run
/// them once. Runs the synchronous harness on a blocking thread.
pub async fn run_migrations(url: &str) -> anyhow::Result<()> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> =
            diesel::Connection::establish(&url).context("connecting to run migrations")?;
        let lock = diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"));
        diesel::RunQueryDsl::execute(lock, &mut conn).context("taking the migration lock")?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
        for m in &applied {
            tracing::info!(migration = %m, "applied migration");
        }
        let unlock = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
        diesel::RunQueryDsl::execute(unlock, &mut conn).context("releasing the migration lock")?;
        Ok(())
    })
    .await
    .context("migration task panicked")?
}

/// Builds the connection pool; connections are opened lazily.
pub fn pool(url: &str, max_size: usize) -> anyhow::Result<PgPool> {
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    Pool::builder(manager)
        .max_size(max_size)
        .build()
        .context("building the database pool")
}

/// Creates the database if needed, migrates it and returns a pool: what a service does at start.
pub async fn prepare(url: &str, max_size: usize) -> anyhow::Result<PgPool> {
    create_database_if_missing(url).await?;
    run_migrations(url).await?;
    pool(url, max_size)
}

#[cfg(test)]
mod tests {
    use super::split_database_url;

    #[test]
    fn splits_name_and_keeps_options() {
        let (admin, name) =
            split_database_url("postgres://u@h:5432/marketing?sslmode=disable").unwrap();
        assert_eq!(admin, "postgres://u@h:5432/postgres?sslmode=disable");
        assert_eq!(name, "marketing");
    }

    #[test]
    fn refuses_url_without_name() {
        assert!(split_database_url("postgres://u@h:5432/").is_err());
        assert!(split_database_url("postgres://u@h:5432").is_err());
    }
}
