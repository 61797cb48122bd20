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
        .env("AUTHGATE__IDENTITY__PROVIDER", "emulator")
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
            ("AUTHGATE__AUTH0__CLIENT_ID".into(), "acme-app".into()),
            ("AUTHGATE__AUTH0__CLIENT_SECRET".into(), "x".into()),
            (
                "AUTHGATE__AUTH0__AUDIENCE".into(),
                "https://api.acme".into(),
            ),
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

/// The environment of a real tenant, as the container image would run it.
const TENANT: &[(&str, &str)] = &[
    ("AUTHGATE__ENVIRONMENT", "production"),
    ("AUTHGATE__AUTH0__DOMAIN", "acme.eu.auth0.com"),
    ("AUTHGATE__AUTH0__CLIENT_ID", "acme-app"),
    ("AUTHGATE__AUTH0__CLIENT_SECRET", "s3cr3t-value"),
    ("AUTHGATE__AUTH0__AUDIENCE", "https://api.acme"),
];

#[test]
fn the_image_environment_without_config_lists_every_missing_key_at_once() {
    // the Dockerfile's ENV, nothing else
    let out = authgate()
        .env("AUTHGATE__ENVIRONMENT", "production")
        .env("AUTHGATE__SERVER__LISTEN", "0.0.0.0:4000")
        .env("AUTHGATE__TELEMETRY__FORMAT", "json")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "one message: {err}");
    for key in [
        "auth0.domain (AUTHGATE__AUTH0__DOMAIN)",
        "auth0.client_id (AUTHGATE__AUTH0__CLIENT_ID)",
        "auth0.client_secret (AUTHGATE__AUTH0__CLIENT_SECRET)",
        "auth0.audience (AUTHGATE__AUTH0__AUDIENCE)",
    ] {
        assert!(err.contains(key), "{key} in {err}");
    }
    // and with them, the same environment is a valid configuration
    let mut cmd = authgate();
    cmd.env("AUTHGATE__SERVER__LISTEN", "0.0.0.0:4000")
        .arg("check-config");
    for (k, v) in TENANT {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t-value"));
}

#[test]
fn the_emulator_never_serves_on_a_non_loopback_address() {
    for var in [
        "AUTHGATE__SERVER__LISTEN",
        "AUTHGATE__IDENTITY__EMULATOR_LISTEN",
    ] {
        let out = authgate()
            .env(var, "0.0.0.0:0")
            .arg("check-config")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("loopback"), "{err}");
        assert!(err.contains("emulator.allow_non_loopback"), "{err}");
        let out = authgate()
            .env(var, "0.0.0.0:0")
            .env("AUTHGATE__EMULATOR__ALLOW_NON_LOOPBACK", "true")
            .arg("check-config")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn production_starts_without_graphiql_introspection_or_cors_origins() {
    use authgate::config::Settings;
    let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        TENANT
            .iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let prod = Settings::load_from(None, env(&[])).unwrap();
    assert!(!prod.graphql.graphiql);
    assert!(!prod.graphql.introspection);
    assert!(!prod.graphql.suggestions);
    assert!(prod.server.cors.allowed_origins.is_empty());
    // what an operator sets explicitly stays
    let prod = Settings::load_from(
        None,
        env(&[
            ("AUTHGATE__GRAPHQL__INTROSPECTION", "true"),
            (
                "AUTHGATE__SERVER__CORS__ALLOWED_ORIGINS",
                "[\"https://app.acme\"]",
            ),
        ]),
    )
    .unwrap();
    assert!(prod.graphql.introspection);
    assert_eq!(prod.server.cors.allowed_origins, ["https://app.acme"]);
    // development keeps its conveniences
    let dev = Settings::load_from(None, Vec::new()).unwrap();
    assert!(dev.graphql.graphiql && dev.graphql.introspection && dev.graphql.suggestions);
    assert!(!dev.server.cors.allowed_origins.is_empty());
}

#[tokio::test]
async fn an_air_gapped_jwks_file_starts_and_verifies_tokens() {
    use crate::guard::{claims, jwk_a, key_b, sign_raw, token, AUDIENCE, ISSUER};
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        serde_json::to_vec(&serde_json::json!({ "keys": [jwk_a()] })).unwrap(),
    )
    .unwrap();
    let jwks: &'static str = Box::leak(jwks.to_str().unwrap().to_owned().into_boxed_str());
    // a tenant whose keys come only from the file: no jwks_url, no snapshot
    let mut envs: Vec<(&str, &str)> = TENANT.to_vec();
    envs.extend([
        ("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0"),
        ("AUTHGATE__GUARD__ISSUER", ISSUER),
        ("AUTHGATE__GUARD__AUDIENCE", AUDIENCE),
        ("AUTHGATE__GUARD__JWKS_FILE", jwks),
    ]);
    let (mut child, addr) =
        tokio::task::spawn_blocking(move || start_logging_address(&["serve"], &envs))
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let me = |bearer: String| {
        http.post(format!("http://{addr}/graphql"))
            .bearer_auth(bearer)
            .json(&serde_json::json!({"query": "{ me { id } }"}))
            .send()
    };
    let good = me(token(&claims())).await.unwrap();
    assert_eq!(good.status(), 200);
    let body: serde_json::Value = good.json().await.unwrap();
    assert_eq!(body["data"]["me"]["id"], "auth0|42", "{body}");
    // a key that is not in the file
    let forged = sign_raw(
        &key_b(),
        &serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "a"}),
        &claims(),
    );
    assert_eq!(me(forged).await.unwrap().status(), 401);
    assert!(stop(&mut child, "-TERM").success());
}

#[tokio::test]
async fn healthcheck_exits_0_when_the_gateway_answers_and_1_when_not() {
    let (mut child, addr) = tokio::task::spawn_blocking(|| {
        start_logging_address(
            &["serve"],
            &[
                ("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0"),
                ("AUTHGATE__IDENTITY__EMULATOR_LISTEN", "127.0.0.1:0"),
                ("AUTHGATE__EMULATOR__EPHEMERAL", "true"),
                ("AUTHGATE__GUARD__SNAPSHOT_PATH", ""),
                ("AUTHGATE__DEVELOPMENT__EXAMPLE_UPSTREAM", ""),
            ],
        )
    })
    .await
    .unwrap();
    let check = |listen: String| {
        // the image's environment without its --config file: the settings do
        // not validate, the listen address is still found
        authgate()
            .env("AUTHGATE__SERVER__LISTEN", listen)
            .env("AUTHGATE__ENVIRONMENT", "production")
            .arg("healthcheck")
            .output()
            .unwrap()
    };
    let port = addr.rsplit(':').next().unwrap().to_owned();
    // the image listens on 0.0.0.0: the check goes through the loopback
    let ok = check(format!("0.0.0.0:{port}"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stop(&mut child, "-TERM").success());
    let down = check(addr);
    assert_eq!(down.status.code(), Some(1));
}

/// Dotted keys of a TOML tree; an empty table or any array is one key.
fn flatten(prefix: &str, value: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        toml::Value::Table(t) if !t.is_empty() => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned());
        }
    }
}

/// Keys that config/production.example.toml leaves commented out
/// (`# key = value` under a `[section]`), with their example value.
fn commented_keys(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = h.trim().to_owned();
            continue;
        }
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        // the value, without a trailing comment
        let mut value = value.trim().to_owned();
        let parsed = loop {
            if let Ok(t) = toml::from_str::<toml::Table>(&format!("v = {value}")) {
                break t.get("v").cloned();
            }
            match value.rfind('#') {
                Some(i) => value = value[..i].trim().to_owned(),
                None => break None,
            }
        };
        let Some(parsed) = parsed else { continue };
        let raw = match parsed {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        let dotted = if section.is_empty() {
            key.to_owned()
        } else {
            format!("{section}.{key}")
        };
        keys.push((dotted, raw));
    }
    keys
}

/// config/production.example.toml documents every key the settings read, and
/// nothing they do not: a new setting fails here until it is documented.
#[test]
fn the_production_example_documents_every_key() {
    use authgate::config::{env_var_for, Settings};
    use std::collections::BTreeSet;
    const EXAMPLE: &str = "config/production.example.toml";
    // refused in production, documented in config/default.toml and
    // config/development.toml instead
    const NOT_FOR_PRODUCTION: &[&str] = &["emulator.", "development."];
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let mut documented = BTreeSet::new();
    flatten("", &toml::from_str(&text).unwrap(), &mut documented);
    let commented = commented_keys(&text);
    documented.extend(commented.iter().map(|(k, _)| k.clone()));

    let secret = || vec![("AUTHGATE__AUTH0__CLIENT_SECRET".to_owned(), "x".to_owned())];
    let path = std::path::Path::new(EXAMPLE);
    let example = Settings::load_from(Some(path), secret())
        .unwrap_or_else(|e| panic!("{EXAMPLE} does not load:\n{e}"));
    // the keys the settings read: the example's own tree, plus every default
    let mut read = BTreeSet::new();
    flatten("", &toml::Value::try_from(&example).unwrap(), &mut read);
    let mut tenant: Vec<(String, String)> = TENANT
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tenant.push(("AUTHGATE__SERVER__LISTEN".into(), "127.0.0.1:0".into()));
    let defaults = Settings::load_from(None, tenant).unwrap();
    flatten("", &toml::Value::try_from(&defaults).unwrap(), &mut read);

    let undocumented: Vec<String> = read
        .iter()
        .filter(|k| !NOT_FOR_PRODUCTION.iter().any(|p| k.starts_with(p)))
        .filter(|k| {
            // a documented parent table (e.g. `headers`) covers its entries
            !documented.contains(*k)
                && !documented
                    .iter()
                    .any(|d| k.starts_with(&format!("{d}.")) || d.starts_with(&format!("{k}.")))
        })
        .map(|k| format!("  {k}  ({})", env_var_for(k)))
        .collect();
    // every commented-out key is one the settings accept
    let unknown: Vec<String> = commented
        .iter()
        .filter(|(key, value)| {
            let mut env = secret();
            env.push((env_var_for(key), value.clone()));
            match Settings::load_from(Some(path), env) {
                Ok(_) => false,
                Err(e) => e.to_string().contains("unknown key"),
            }
        })
        .map(|(k, _)| format!("  {k}"))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{EXAMPLE} is out of step with the settings.\n\
         Keys the settings read that it does not document (add them, with their default):\n{}\n\
         Commented-out keys the settings do not accept:\n{}",
        undocumented.join("\n"),
        unknown.join("\n")
    );
}
