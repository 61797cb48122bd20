//! The `authgate` command: serve, print-schema, check-config, and the
//! configuration errors a newcomer makes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::helpers::authgate_binary as authgate;

#[test]
fn print_schema_prints_the_composed_sdl() {
    let out = authgate().arg("print-schema").output().unwrap();
    assert!(out.status.success());
    let sdl = String::from_utf8(out.stdout).unwrap();
    assert!(sdl.contains("type Mutation"), "{sdl}");
    assert!(
        sdl.contains("login(input: LoginInput!): AuthPayload"),
        "{sdl}"
    );
}

#[test]
fn check_config_redacts_and_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:4999\"\n").unwrap();
    let out = authgate()
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("listen = \"127.0.0.1:4999\""), "{printed}");
}

#[test]
fn a_typo_in_a_config_file_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let out = authgate()
        .args(["check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("server.lisen"), "{err}");
    assert!(err.contains("unknown key"), "{err}");
}

#[test]
fn a_bad_env_value_stops_start_up_naming_the_variable() {
    let out = authgate()
        .env("AUTHGATE__SERVER__REQUEST_TIMEOUT", "soon")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("AUTHGATE__SERVER__REQUEST_TIMEOUT"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn validation_errors_are_one_line_each() {
    let out = authgate()
        .env("AUTHGATE__SERVER__BODY_LIMIT", "10")
        .env("AUTHGATE__GRAPHQL__PATH", "graphql")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("server.body_limit") && lines[0].contains("AUTHGATE__SERVER__BODY_LIMIT")
    );
    assert!(lines[1].contains("graphql.path"));
}

#[test]
fn a_missing_config_file_is_reported() {
    let out = authgate()
        .args(["check-config", "--config", "/nonexistent/authgate.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

/// Starts `authgate ARGS` and returns it with the `address` its JSON log names.
fn start_logging_address(args: &[&str], envs: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = authgate();
    cmd.args(args)
        .env("AUTHGATE__TELEMETRY__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut addr = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(a) = v["address"].as_str() {
            addr = Some(a.to_owned());
            break;
        }
    }
    (
        child,
        addr.expect("the start-up log names the bound address"),
    )
}

fn stop(child: &mut std::process::Child, signal: &str) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap()
}

#[tokio::test]
async fn the_standalone_emulator_persists_and_rotates_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let kids = |addr: String| async move {
        let jwks: serde_json::Value = reqwest::get(format!("http://{addr}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let launch = |data: String| async move {
        tokio::task::spawn_blocking(move || {
            start_logging_address(&["emulator", "--port", "0", "--data-dir", &data], &[])
        })
        .await
        .unwrap()
    };
    let (mut child, addr) = launch(data.clone()).await;
    let before = kids(addr).await;
    assert!(stop(&mut child, "-INT").success());

    // keys survive a restart
    let (mut child, addr) = launch(data.clone()).await;
    assert_eq!(kids(addr).await, before);
    assert!(stop(&mut child, "-INT").success());

    let out = authgate()
        .args(["emulator", "--rotate-keys", "--data-dir", &data])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut child, addr) = launch(data.clone()).await;
    let after = kids(addr).await;
    assert!(stop(&mut child, "-INT").success());
    // previous, current and next: the old keys stay published
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(
        before.iter().all(|k| after.contains(k)),
        "{before:?} ⊄ {after:?}"
    );
}

#[test]
fn production_refuses_the_emulator() {
    let out = authgate()
        .env("AUTHGATE__ENVIRONMENT", "production")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("identity.provider"));
    let out = authgate()
        .env("AUTHGATE__ENVIRONMENT", "production")
        .env("AUTHGATE__IDENTITY__PROVIDER", "auth0")
        .env("AUTHGATE__AUTH0__DOMAIN", "acme.eu.auth0.com")
        .env("AUTHGATE__AUTH0__CLIENT_SECRET", "s3cr3t-value")
        .args(["emulator", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cr3t-value"));
}

#[tokio::test]
async fn serve_logs_its_address_answers_and_stops_on_sigterm() {
    let mut child = authgate()
        .env("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__IDENTITY__EMULATOR_LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__EMULATOR__EPHEMERAL", "true")
        .env("AUTHGATE__DEVELOPMENT__EXAMPLE_UPSTREAM", "")
        .env("AUTHGATE__TELEMETRY__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let addr = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.ok()?;
            let v: serde_json::Value = serde_json::from_str(&line).ok()?;
            if let Some(a) = v["address"].as_str() {
                return Some(a.to_owned());
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the start-up log names the bound address");
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&serde_json::json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["__typename"], "Query");
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_production_example_is_valid_and_needs_its_secret() {
    let out = authgate()
        .env("AUTHGATE__AUTH0__CLIENT_SECRET", "from-the-environment")
        .args(["check-config", "--config", "config/production.example.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        !printed.contains("from-the-environment"),
        "a secret was printed"
    );
    assert!(printed.contains("custody = \"cookie\""), "{printed}");
    let out = authgate()
        .args(["check-config", "--config", "config/production.example.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("auth0.client_secret"), "{err}");
    assert!(err.contains("AUTHGATE__AUTH0__CLIENT_SECRET"), "{err}");
}

#[test]
fn the_development_layer_applies_only_in_development() {
    use authgate::config::Settings;
    let dev = Settings::load_from(None, Vec::new()).unwrap();
    assert!(dev.datasources.contains_key("orders"));
    assert_eq!(dev.development.example_upstream, "127.0.0.1:4002");
    let prod = Settings::load_from(
        None,
        vec![
            ("AUTHGATE__ENVIRONMENT".into(), "production".into()),
            ("AUTHGATE__IDENTITY__PROVIDER".into(), "auth0".into()),
            ("AUTHGATE__AUTH0__DOMAIN".into(), "acme.eu.auth0.com".into()),
            ("AUTHGATE__AUTH0__CLIENT_SECRET".into(), "x".into()),
        ],
    )
    .unwrap();
    assert!(
        prod.datasources.is_empty(),
        "no example datasources in production"
    );
    assert!(prod.development.example_upstream.is_empty());
    assert_eq!(
        prod.graphql.schema,
        vec![std::path::PathBuf::from("schema")]
    );
}
