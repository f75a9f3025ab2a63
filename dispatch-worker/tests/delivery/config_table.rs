//! docs/configuration.md's table cannot drift from the binaries: every variable of each binary's
//! `--help` (`[env: NAME=]`) has a row naming that binary with the default `--help` prints
//! (`[default: …]`), and every row names only binaries whose `--help` lists its variable (but for
//! the few variables read outside clap).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every binary whose settings the table lists, with how many variables its `--help` has at
/// least (so a `--help` this test cannot read fails instead of passing empty). A new binary is
/// one line here (and its rows in docs/configuration.md).
const BINARIES: &[(&str, usize)] = &[
    ("campaign-svc", 40),
    ("dispatch-worker", 40),
    ("marketingctl", 2),
];

/// Variables the binaries read without clap, so no `--help` lists them.
const NOT_FLAGS: &[&str] = &["RUST_LOG", "OTEL_EXPORTER_OTLP_ENDPOINT"];

/// One row of the table: the variable, the binaries that read it, the default column.
struct Row {
    line: usize,
    variable: String,
    binaries: Vec<String>,
    default: String,
}

/// The rows of the table whose header starts `| variable | read by | default |`.
fn table_rows(text: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("| variable | read by | default |") {
            assert!(!in_table && rows.is_empty(), "one table, not two");
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        if !line.starts_with('|') {
            if !rows.is_empty() {
                in_table = false;
            }
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(cells.len() >= 4, "line {}: four columns: {line}", i + 1);
        let variable = cells[0]
            .strip_prefix('`')
            .and_then(|v| v.strip_suffix('`'))
            .filter(|v| !v.contains('`'))
            .unwrap_or_else(|| panic!("line {}: one `VARIABLE` per row: {line}", i + 1));
        rows.push(Row {
            line: i + 1,
            variable: variable.to_owned(),
            binaries: cells[1].split(',').map(|b| b.trim().to_owned()).collect(),
            default: cells[2].to_owned(),
        });
    }
    assert!(!rows.is_empty(), "the table is in docs/configuration.md");
    rows
}

/// Each variable of a `--help` and its default (`None`: `--help` shows none).
fn help_variables(help: &str) -> BTreeMap<String, Option<String>> {
    let mut vars = BTreeMap::new();
    // An argument's text runs from its `--flag` line to the next one.
    let mut args: Vec<String> = Vec::new();
    for line in help.lines() {
        // `  -h, --help` or `      --http-addr <HTTP_ADDR>`; descriptions are indented further.
        if line.starts_with("  -") || line.starts_with("      --") {
            args.push(String::new());
        }
        if let Some(arg) = args.last_mut() {
            arg.push_str(line);
            arg.push('\n');
        }
    }
    for arg in args {
        let Some(at) = arg.find("[env: ") else {
            continue;
        };
        let name: String = arg[at + 6..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let default = arg.find("[default: ").map(|at| {
            let value = &arg[at + 10..];
            // Up to the `]` that ends the line or precedes the next `[…]`.
            let end = value
                .match_indices(']')
                .map(|(i, _)| i)
                .find(|&i| matches!(value[i + 1..].chars().next(), None | Some('\n' | ' ')))
                .unwrap_or(value.len());
            value[..end].to_owned()
        });
        assert!(
            vars.insert(name.clone(), default).is_none(),
            "{name} twice in one --help"
        );
    }
    vars
}

/// Where the binaries are: next to this package's own, where `cargo build --bins` (which
/// scripts/test.sh runs before the tests) put every binary of the workspace.
fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_dispatch-worker"))
        .parent()
        .expect("the binaries' directory")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

#[test]
fn the_configuration_table_matches_every_binarys_help() {
    let table = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/configuration.md"
    ))
    .expect("docs/configuration.md");
    let rows = table_rows(&table);
    let helps: BTreeMap<&str, BTreeMap<String, Option<String>>> = BINARIES
        .iter()
        .map(|&(binary_name, least)| {
            let out = Command::new(binary(binary_name))
                .arg("--help")
                // Set variables would show their values in --help.
                .env_clear()
                .output()
                .unwrap_or_else(|e| panic!("{binary_name} --help: {e}"));
            assert!(out.status.success(), "{binary_name} --help: {}", out.status);
            let vars = help_variables(&String::from_utf8_lossy(&out.stdout));
            assert!(
                vars.len() >= least,
                "{binary_name} --help lists its variables: {vars:?}"
            );
            (binary_name, vars)
        })
        .collect();

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for row in &rows {
        for binary in &row.binaries {
            if !seen.insert((row.variable.clone(), binary.clone())) {
                problems.push(format!(
                    "line {}: {} has two rows for {binary}",
                    row.line, row.variable
                ));
            }
            let Some(help) = helps.get(binary.as_str()) else {
                problems.push(format!(
                    "line {}: {} names `{binary}`, which is not in BINARIES",
                    row.line, row.variable
                ));
                continue;
            };
            if NOT_FLAGS.contains(&row.variable.as_str()) {
                continue;
            }
            match help.get(&row.variable) {
                None => problems.push(format!(
                    "line {}: {} is not in `{binary} --help`",
                    row.line, row.variable
                )),
                Some(Some(default)) => {
                    if !row.default.starts_with(&format!("`{default}`")) {
                        problems.push(format!(
                            "line {}: {} on {binary}: `--help` says [default: {default}], the table says {}",
                            row.line, row.variable, row.default
                        ));
                    }
                }
                Some(None) => {
                    if row.default.starts_with('`') {
                        problems.push(format!(
                            "line {}: {} on {binary}: `--help` shows no default, the table says {}",
                            row.line, row.variable, row.default
                        ));
                    }
                }
            }
        }
    }
    for (binary, vars) in &helps {
        for name in vars.keys() {
            if !seen.contains(&(name.clone(), binary.to_string())) {
                problems.push(format!(
                    "{name} of `{binary} --help` has no row naming {binary}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md and --help disagree:\n{}",
        problems.join("\n")
    );
}

#[test]
fn help_is_read_in_both_layouts() {
    let short = "Options:\n      --http-addr <HTTP_ADDR>  Address [env: HTTP_ADDR=] [default: 0.0.0.0:8080]\n      --tokens <T>  Tokens [env: API_TOKENS]\n  -h, --help  Print help\n";
    let long = "Options:\n      --email-from <EMAIL_FROM>\n          Sender\n\n          [env: EMAIL_FROM=x]\n          [default: \"Marketing <m@example.com>\"]\n\n      --tls <SMTP_TLS>\n          TLS\n\n          [env: SMTP_TLS=]\n          [default: none]\n          [possible values: none, tls]\n";
    let s = help_variables(short);
    assert_eq!(s["HTTP_ADDR"].as_deref(), Some("0.0.0.0:8080"));
    assert_eq!(s["API_TOKENS"], None);
    let l = help_variables(long);
    assert_eq!(
        l["EMAIL_FROM"].as_deref(),
        Some("\"Marketing <m@example.com>\"")
    );
    assert_eq!(l["SMTP_TLS"].as_deref(), Some("none"));
    assert_eq!(l.len(), 2);
}
