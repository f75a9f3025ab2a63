//! `scripts/run-local.sh`, the README's run command, on other addresses than the defaults: it
//! must probe the REST port it was given, hand links the public base URL it was given, and serve.

use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use testkit::{TestDb, TestQueues};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The script's process group, stopped (SIGTERM, as Ctrl-C would) when the test ends.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_local_follows_the_addresses_it_is_given() {
    let (db, queues) = (TestDb::new(), TestQueues::new());
    let (http, grpc) = (free_port(), free_port());
    let sink = std::env::temp_dir().join(format!("run-local-{}.jsonl", queues.prefix));
    let mut group = Group(
        Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/run-local.sh"
            ))
            .env("HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("GRPC_ADDR", format!("127.0.0.1:{grpc}"))
            .env("PUBLIC_BASE_URL", "https://links.example.test")
            .env("DATABASE_URL", &db.url)
            .env("QUEUE_PREFIX", &queues.prefix)
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("LOG_SINK_PATH", &sink)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("run-local.sh starts"),
    );
    let stdout = group.0.stdout.take().expect("piped stdout");
    let found = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("campaign-svc: REST") {
                return (Some(line), seen);
            }
            seen.push(line);
        }
        (None, seen)
    });
    let (banner, seen) = tokio::time::timeout(Duration::from_secs(300), found)
        .await
        .expect("run-local.sh announces the service")
        .expect("reader");
    let banner = banner.unwrap_or_else(|| panic!("run-local.sh stopped: {seen:?}"));
    assert!(
        banner.contains(&format!("REST http://127.0.0.1:{http} "))
            && banner.contains(&format!("gRPC 127.0.0.1:{grpc}"))
            && banner.contains("links https://links.example.test")
            && banner.contains("token: dev-token"),
        "{banner}"
    );
    let client = testkit::http_client();
    let ready = client
        .get(format!("http://127.0.0.1:{http}/readyz"))
        .send()
        .await
        .expect("campaign-svc answers on HTTP_ADDR");
    assert_eq!(ready.status(), 200);
    let _ = std::fs::remove_file(sink);
}
