//! `authgate check-config`: what an operator reads, for a valid
//! configuration (every secret redacted) and for one with errors.

use crate::helpers::authgate_binary;

/// Runs `check-config --config FILE` with `toml` (and `envs`) and renders
/// the exit code, stdout and stderr as one text, the temporary path hidden.
fn check_config(toml: &str, envs: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("authgate.toml");
    std::fs::write(&file, toml).unwrap();
    let mut cmd = authgate_binary();
    cmd.args(["check-config", "--config"]).arg(&file);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let path = file.to_string_lossy().into_owned();
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(&path, "[config file]");
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

#[test]
fn a_valid_config_is_printed_with_secrets_redacted() {
    let out = check_config(
        r#"
[server]
listen = "127.0.0.1:4999"

[auth0]
client_secret = "hunter2-client-secret"
"#,
        &[],
    );
    assert!(!out.contains("hunter2"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn a_config_with_errors_names_each_key_once() {
    let out = check_config(
        r#"
[server]
body_limit = 10

[graphql]
path = "graphql"
"#,
        &[],
    );
    insta::assert_snapshot!("errors", out);
    let out = check_config("[server]\nlisen = \"127.0.0.1:1\"\n", &[]);
    insta::assert_snapshot!("unknown_key", out);
    let out = check_config("", &[("AUTHGATE__SERVER__REQUEST_TIMEOUT", "soon")]);
    insta::assert_snapshot!("bad_env_value", out);
}
