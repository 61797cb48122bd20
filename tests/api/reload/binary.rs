//! `SIGHUP` to the real binary: the edited config file and SDL go live, a
//! restart-required change is logged and not applied, the process keeps
//! serving.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::builtin_schema;

use crate::helpers::authgate_binary as authgate;

fn config(sdl_dir: &std::path::Path, extra: &str) -> String {
    format!(
        r#"{extra}
server.listen = "127.0.0.1:0"
identity.emulator_listen = "127.0.0.1:0"
emulator.ephemeral = true
development.example_upstream = ""
telemetry.format = "json"
graphql.schema = [{builtin:?}, {sdl:?}]
"#,
        builtin = builtin_schema().display().to_string(),
        sdl = sdl_dir.display().to_string(),
    )
}

/// The JSON log lines of the child, as they come.
struct Logs(mpsc::Receiver<Value>);

impl Logs {
    /// The first line (from now on) that `pred` accepts, within 60 s.
    fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_after(what, pred).0
    }

    /// Like [`Logs::wait_for`], with the lines skipped on the way.
    fn wait_for_after(&self, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, Vec<Value>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok(v) if pred(&v) => return (v, seen),
                Ok(v) => seen.push(v),
                Err(e) => panic!(
                    "no log line: {what} ({e}; an exited child may be a binary built from \
                     another tree in a shared target dir); seen:\n{seen:?}"
                ),
            }
        }
    }
}

fn message(v: &Value) -> &str {
    v["message"].as_str().unwrap_or("")
}

fn hup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -HUP failed");
}

async fn gql(addr: &str, query: &str) -> Value {
    crate::helpers::json_of(
        reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .json(&json!({ "query": query })),
    )
    .await
}

#[tokio::test]
async fn sighup_applies_the_edited_files_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let sdl = dir.path().join("sdl");
    std::fs::create_dir(&sdl).unwrap();
    std::fs::write(sdl.join("probe.graphql"), "type ReloadStart { x: Int }\n").unwrap();
    let file = dir.path().join("authgate.toml");
    std::fs::write(&file, config(&sdl, "")).unwrap();

    let mut child = authgate()
        .arg("--config")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let logs = Logs(rx);
    let started = tokio::task::spawn_blocking(move || {
        let v = logs.wait_for("the bound address", |v| v["address"].is_string());
        (logs, v)
    })
    .await
    .unwrap();
    let (logs, line) = started;
    let addr = line["address"].as_str().unwrap().to_owned();
    let probe = r#"{ __type(name: "ReloadProbe") { name } }"#;
    assert_eq!(gql(&addr, probe).await["data"]["__type"], Value::Null);

    // 1. a new SDL file, then SIGHUP
    std::fs::write(
        sdl.join("more.graphql"),
        "type ReloadProbe { ok: Boolean }\nextend type Viewer { reloadProbe: ReloadProbe }\n",
    )
    .unwrap();
    hup(pid);
    let logs = tokio::task::spawn_blocking(move || {
        let v = logs.wait_for("config reloaded (1)", |v| {
            message(v) == "config reloaded" && v["generation"] == 1
        });
        assert!(
            v["schema_hash"].as_str().is_some_and(|h| h.len() == 16),
            "{v}"
        );
        logs
    })
    .await
    .unwrap();
    assert_eq!(
        gql(&addr, probe).await["data"]["__type"]["name"],
        "ReloadProbe"
    );

    // 2. the config file: introspection off (hot) and a new listen
    // address (restart required)
    std::fs::write(
        &file,
        config(&sdl, "graphql.introspection = false").replace(
            "server.listen = \"127.0.0.1:0\"",
            "server.listen = \"127.0.0.1:1\"",
        ),
    )
    .unwrap();
    hup(pid);
    let logs = tokio::task::spawn_blocking(move || {
        let (_, before) = logs.wait_for_after("config reloaded (2)", |v| {
            message(v) == "config reloaded" && v["generation"] == 2
        });
        // the first reload changed no restart-required key (the emulator's
        // run-time address is not mistaken for a config change)
        assert!(
            !before
                .iter()
                .any(|v| message(v).starts_with("restart required")),
            "{before:?}"
        );
        let w = logs.wait_for("restart required", |v| {
            message(v).starts_with("restart required for server.listen")
        });
        assert_eq!(w["level"], "WARN", "{w}");
        logs
    })
    .await
    .unwrap();
    let r = gql(&addr, probe).await;
    assert!(r["errors"].is_array(), "introspection is off now: {r}");
    // the old address still serves
    assert_eq!(
        gql(&addr, "{ __typename }").await["data"]["__typename"],
        "Query"
    );

    // 3. a broken file: one error, the process keeps serving
    std::fs::write(&file, "graphql.introspection = maybe\n").unwrap();
    hup(pid);
    let logs = tokio::task::spawn_blocking(move || {
        let e = logs.wait_for("reload failed", |v| message(v).starts_with("reload failed"));
        assert!(
            e["error"]
                .as_str()
                .unwrap_or("")
                .contains("graphql.introspection"),
            "{e}"
        );
        logs
    })
    .await
    .unwrap();
    assert_eq!(
        gql(&addr, "{ __typename }").await["data"]["__typename"],
        "Query"
    );
    drop(logs);
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}
