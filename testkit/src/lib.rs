//! Test support: `spawn_app()` starts the real campaign-svc on random ports against its own fresh
//! database and its own RabbitMQ queue names; both are removed when the test ends (the database
//! `WITH (FORCE)`), so tests run in parallel and leave nothing behind.

pub mod vendor;
pub mod vendors;

use std::net::SocketAddr;

use campaign_svc::config::Config;
use campaign_svc::startup::Application;
use clap::Parser as _;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::Value;
use tonic::transport::Channel;
use uuid::Uuid;

pub const TOKEN: &str = "test-token-1";
pub const OTHER_TOKEN: &str = "test-token-2";
/// The tracking secret and public URL tests give campaign-svc and workers. Links in messages
/// point at `PUBLIC_BASE_URL`; tests follow them on the app's real address ([`TestApp::follow`]).
pub const TRACKING_SECRET: &str = "test-tracking-secret";
pub const PUBLIC_BASE_URL: &str = "https://marketing.test";

/// The server's administrative database, used to create and drop test databases.
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A database that exists for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    pub fn new() -> Self {
        let name = format!("t_{}", Uuid::new_v4().simple());
        let admin = admin_url();
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_owned())
            .unwrap_or(admin);
        TestDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with its own to run async cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = AsyncPgConnection::establish(&admin_url()).await.ok()?;
                diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Queue and exchange names that exist for one test, deleted on drop.
pub struct TestQueues {
    pub prefix: String,
}

/// The broker used by tests.
pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

impl TestQueues {
    pub fn new() -> Self {
        TestQueues {
            prefix: format!("t_{}", Uuid::new_v4().simple()),
        }
    }

    pub fn topology(&self) -> marketing_core::jobs::Topology {
        marketing_core::jobs::Topology::new(&self.prefix)
    }
}

impl Default for TestQueues {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestQueues {
    fn drop(&mut self) {
        let t = self.topology();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let conn = lapin::Connection::connect(&amqp_url(), Default::default())
                    .await
                    .ok()?;
                let ch = conn.create_channel().await.ok()?;
                // Twice: an app told to stop a moment ago may still be (re)connecting, and
                // connecting declares the queues again.
                for pass in 0..2 {
                    if pass > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    for q in [&t.send_queue, &t.dead_letter_queue] {
                        let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
                    }
                    let _ = ch
                        .exchange_delete(t.dead_letter_exchange.as_str().into(), Default::default())
                        .await;
                }
                let _ = conn.close(200, "test done".into()).await;
                Some(())
            })
        })
        .join();
    }
}

pub struct TestApp {
    /// First, so that it drops first: the app stops before its queues and database go (fields
    /// drop in order), or its relay could declare the queues again after they were deleted.
    _running: StopOnDrop,
    pub base: String,
    pub grpc_addr: SocketAddr,
    pub http: reqwest::Client,
    pub queues: TestQueues,
    pub db: TestDb,
}

/// Stops whatever waits on the future [`stop_signal`] returned with it, when dropped.
pub struct StopOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

/// A guard and a future that resolves once the guard is dropped: hand the future to a server's
/// or worker's `run` as its shutdown signal and keep the guard for as long as it should run.
pub fn stop_signal() -> (
    StopOnDrop,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    (StopOnDrop(Some(stop)), async {
        let _ = stopped.await;
    })
}

pub fn test_config(db: &TestDb, queues: &TestQueues) -> Config {
    Config::try_parse_from([
        "campaign-svc",
        "--http-addr",
        "127.0.0.1:0",
        "--grpc-addr",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
        "--database-pool-size",
        "4",
        "--api-tokens",
        &format!("{TOKEN},{OTHER_TOKEN}"),
        "--max-body-bytes",
        "4194304",
        "--amqp-url",
        &amqp_url(),
        "--queue-prefix",
        &queues.prefix,
        "--scheduler-interval-ms",
        "200",
        "--publish-timeout-secs",
        "5",
        "--tracking-secret",
        TRACKING_SECRET,
        "--public-base-url",
        PUBLIC_BASE_URL,
    ])
    .expect("test configuration parses")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestDb::new(), TestQueues::new(), |_| {}).await
}

/// Starts the app on the given database and queues, after `adjust` changed its config.
pub async fn spawn_app_with(
    db: TestDb,
    queues: TestQueues,
    adjust: impl FnOnce(&mut Config),
) -> TestApp {
    // Tests share one process-wide subscriber; the first app installs it (no trace export).
    let _ = marketing_core::telemetry::init("warn", false, "campaign-svc");
    let mut config = test_config(&db, &queues);
    adjust(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://{}", app.http_addr());
    let grpc_addr = app.grpc_addr();
    let (running, stopped) = stop_signal();
    tokio::spawn(app.run(stopped));
    TestApp {
        _running: running,
        base,
        grpc_addr,
        http: http_client(),
        queues,
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends an authenticated request; returns status and parsed JSON body (Null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request is sent");
        read(resp).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    /// Dry-runs a campaign (`execution_type: simulation`, answered 202) and returns its
    /// execution as `GET /executions/:id` shows it.
    pub async fn simulate(&self, campaign: &str) -> Value {
        let (status, t) = self
            .post(
                &format!("/api/marketing/campaigns/{campaign}/trigger"),
                serde_json::json!({"execution_type": "simulation"}),
            )
            .await;
        assert_eq!(status, 202, "{t}");
        assert_eq!(t["status"], "simulation_started", "{t}");
        let id = t["execution_id"].as_str().expect("an execution id");
        self.get(&format!("/api/marketing/executions/{id}")).await.1
    }

    /// The app's own address for a link found in a message (`https://marketing.test/t/c/…`).
    pub fn follow(&self, link: &str) -> String {
        let path = link
            .strip_prefix(PUBLIC_BASE_URL)
            .unwrap_or_else(|| panic!("{link} is not a link to the app"));
        self.url(path)
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Sends raw bytes as the body (malformed JSON and the like).
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let resp = self
            .http
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request is sent");
        read(resp).await
    }

    pub async fn create_campaign(&self, body: Value) -> Value {
        let (status, campaign) = self.post("/api/marketing/campaigns", body).await;
        assert_eq!(status, 201, "{campaign}");
        campaign
    }

    /// A gRPC channel to the app.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.grpc_addr))
            .expect("valid URI")
            .connect()
            .await
            .expect("gRPC connects")
    }

    /// A direct connection to the test's database, for set-up and for checking what was written.
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.db.url)
            .await
            .expect("test database reachable")
    }

    /// Runs SQL against the test database (set-up the API cannot do yet, or checks).
    pub async fn sql(&self, query: &str) {
        let mut conn = self.db().await;
        diesel::sql_query(query)
            .execute(&mut conn)
            .await
            .expect("set-up SQL runs");
    }

    /// Counts rows with a `SELECT count(*) AS n FROM …` query.
    pub async fn count(&self, query: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db().await;
        let rows: Vec<N> = diesel::sql_query(query)
            .load(&mut conn)
            .await
            .expect("count runs");
        rows[0].n
    }

    /// The `line` column of each row of `query` (diagnostics).
    pub async fn rows(&self, query: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let mut conn = self.db().await;
        let rows: Vec<Line> = diesel::sql_query(query)
            .load(&mut conn)
            .await
            .expect("query runs");
        rows.into_iter().map(|r| r.line).collect()
    }
}

/// An HTTP client (installs the TLS crypto provider the workspace's reqwest build expects).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A client that does not follow redirects, as a test of a redirect needs.
pub fn http_client_no_redirects() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

pub async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body is read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A gRPC request carrying the test token.
pub fn authed<T>(msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("ascii"),
    );
    req
}

/// The field named by a gRPC error's BadRequest details.
pub fn bad_field(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt as _;
    let details = status.get_error_details();
    details
        .bad_request()
        .and_then(|b| <[_]>::first(&b.field_violations).map(|v| v.field.clone()))
}

/// The body of a minimal valid campaign.
pub fn campaign_body(name: &str) -> Value {
    serde_json::json!({
        "name": name,
        "type": "sms",
        "target_tags": ["VIP", "新用户"],
        "content": "亲爱的[客户姓名]，您有一份6月专属好礼待领取！",
    })
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Messages ready in a queue (0 when it does not exist).
pub async fn queue_depth(queue: &str) -> u32 {
    let Ok(conn) = lapin::Connection::connect(&amqp_url(), Default::default()).await else {
        return 0;
    };
    let depth = match conn.create_channel().await {
        Ok(ch) => ch
            .queue_declare(
                queue.into(),
                lapin::options::QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .map(|q| q.message_count())
            .unwrap_or(0),
        Err(_) => 0,
    };
    let _ = conn.close(200, "done".into()).await;
    depth
}

/// A second campaign-svc on the same database and queues (another replica), stopped on drop.
pub struct Replica {
    pub base: String,
    _running: StopOnDrop,
}

impl TestApp {
    /// Starts another replica of the app against the same database and queues.
    pub async fn replica(&self) -> Replica {
        let config = test_config(&self.db, &self.queues);
        let app = Application::build(config).await.expect("replica builds");
        let base = format!("http://{}", app.http_addr());
        let (running, stopped) = stop_signal();
        tokio::spawn(app.run(stopped));
        Replica {
            base,
            _running: running,
        }
    }

    /// Records of a campaign with the given status.
    pub async fn records_with_status(&self, campaign: &str, status: &str) -> i64 {
        self.count(&format!(
            "SELECT count(*) AS n FROM marketing_record WHERE campaign_id = '{campaign}' AND status = '{status}'"
        ))
        .await
    }
}

/// A TCP proxy in front of a server that can cut every open connection, to test reconnects
/// without disturbing other tests using the same server.
pub struct TcpProxy {
    pub addr: SocketAddr,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> =
            Default::default();
        let tracked = connections.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tracked
                    .lock()
                    .expect("proxy lock")
                    .push(task.abort_handle());
            }
        });
        TcpProxy {
            addr,
            connections,
            accept,
        }
    }

    /// Drops every connection open now; new ones are accepted again.
    pub fn cut(&self) -> usize {
        let mut conns = self.connections.lock().expect("proxy lock");
        let n = conns.len();
        for c in conns.drain(..) {
            c.abort();
        }
        n
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
