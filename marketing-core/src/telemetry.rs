//! Logging set-up shared by both binaries: `RUST_LOG`-style filter, plain or JSON lines.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. `json` switches to one JSON object per line.
pub fn init(default_filter: &str, json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    // A second call (tests start several apps in one process) keeps the first subscriber.
    let _ = if json {
        registry.with(fmt::layer().json()).try_init()
    } else {
        registry
            .with(fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())))
            .try_init()
    };
}
