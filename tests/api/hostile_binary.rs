//! The real `authgate` binary against hostile clients: after each class of
//! abuse the process is alive and answering.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::ResponseTemplate;

use crate::guard::{claims, jwk_a, key_a, sign_raw, sign_text, JwksServer};
use crate::helpers::authgate_binary;

/// The running binary; killed if the test ends early.
struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn url(&self) -> String {
        format!("http://{}/graphql", self.addr)
    }

    fn assert_alive(&mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the gateway process exited"
        );
    }

    /// Alive, and answering a plain query.
    async fn assert_serving(&mut self) {
        self.assert_alive();
        let body: Value = reqwest::Client::new()
            .post(self.url())
            .json(&json!({"query": "{ __typename }"}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("the gateway answers")
            .json()
            .await
            .unwrap();
        assert_eq!(body["data"]["__typename"], "Query", "{body}");
    }

    /// Stops it with SIGTERM; it must exit cleanly.
    async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut child = std::mem::replace(
            &mut self.child,
            // a finished stand-in, so that Drop has nothing left to kill
            std::process::Command::new("true").spawn().unwrap(),
        );
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}

/// Starts `authgate serve` on port 0 with the emulator, short transport
/// limits and `envs`; waits for the address its log names.
async fn start(envs: Vec<(&'static str, String)>) -> Running {
    let mut cmd = authgate_binary();
    cmd.env("AUTHGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__IDENTITY__EMULATOR_LISTEN", "127.0.0.1:0")
        .env("AUTHGATE__EMULATOR__EPHEMERAL", "true")
        .env("AUTHGATE__DEVELOPMENT__EXAMPLE_UPSTREAM", "")
        .env("AUTHGATE__TELEMETRY__FORMAT", "json")
        // short enough to watch slow clients being cut off, long enough that
        // a debug build on a loaded CI machine still reads honest requests
        .env("AUTHGATE__SERVER__REQUEST_TIMEOUT", "5s")
        .env("AUTHGATE__SERVER__HEADER_TIMEOUT", "5s")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    // keeps draining the log so that the process never blocks on a full pipe
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(a) = v["address"].as_str() {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(a.to_owned());
                }
            }
        }
    });
    let addr = match tokio::time::timeout(Duration::from_secs(60), rx).await {
        Ok(Ok(a)) => a,
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the start-up log names no address");
        }
    };
    Running { child, addr }
}

/// Sends `head` (and then nothing, or a trickle) and reads until the server
/// closes the connection; fails if it is still open after `limit`.
async fn hold(addr: &str, head: &'static str, trickle: bool, limit: Duration) -> String {
    let c = TcpStream::connect(addr).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let writer = tokio::spawn(async move {
        if w.write_all(head.as_bytes()).await.is_err() || !trickle {
            // keep the write half open: a stalled client, not a closed one
            std::future::pending::<()>().await;
        }
        for _ in 0..1000 {
            if w.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut out = Vec::new();
    let done = tokio::time::timeout(limit, r.read_to_end(&mut out)).await;
    writer.abort();
    assert!(
        done.is_ok(),
        "a hostile connection was still open after {limit:?}"
    );
    String::from_utf8_lossy(&out).into_owned()
}

const BODY_HEAD: &str = "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"query\":";
const PARTIAL_HEADERS: &str = "POST /graphql HTTP/1.1\r\nHost: t\r\nX-Slow: ";

/// POSTs `{ me { id } }` with these Authorization values; the status, the
/// body and `WWW-Authenticate`.
async fn me_with(
    url: &str,
    authorization: &[reqwest::header::HeaderValue],
) -> (u16, Value, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .json(&json!({"query": "{ me { id } }"}))
        .timeout(Duration::from_secs(10));
    for v in authorization {
        req = req.header(reqwest::header::AUTHORIZATION, v.clone());
    }
    let resp = req.send().await.expect("an answer");
    let status = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, resp.json().await.unwrap_or(Value::Null), www)
}

fn bearer(token: &str) -> reqwest::header::HeaderValue {
    reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap()
}

#[tokio::test]
async fn binary_survives_hostile_requests() {
    let jwks = JwksServer::start(vec![jwk_a()]).await;
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("jwks.json").display().to_string();
    let mut gw = start(vec![
        ("AUTHGATE__GUARD__JWKS_URL", jwks.url().to_string()),
        ("AUTHGATE__GUARD__SNAPSHOT_PATH", snapshot),
        ("AUTHGATE__GUARD__REFETCH_WAIT", "300ms".into()),
        ("AUTHGATE__GUARD__UNKNOWN_KID_COOLDOWN", "0s".into()),
    ])
    .await;
    let url = gw.url();
    // the keys are in hand; from now on the JWKS endpoint hangs
    jwks.respond(
        ResponseTemplate::new(200)
            .set_delay(Duration::from_secs(120))
            .set_body_json(json!({"keys": [jwk_a()]})),
    )
    .await;

    // slow clients: a stalled body, a trickled body, stalled headers
    let addr = gw.addr.clone();
    let limit = Duration::from_secs(15);
    let (stalled, trickled, headers) = tokio::join!(
        hold(&addr, BODY_HEAD, false, limit),
        hold(&addr, BODY_HEAD, true, limit),
        hold(&addr, PARTIAL_HEADERS, false, limit),
    );
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(trickled.starts_with("HTTP/1.1 408"), "{trickled}");
    assert!(!headers.starts_with("HTTP/1.1 2"), "{headers}");
    gw.assert_serving().await;

    // correctly signed tokens that say a thing twice
    let body = claims().to_string();
    let dup_claims = format!("{},\"sub\":\"auth0|admin\"}}", &body[..body.len() - 1]);
    for token in [
        sign_text(&key_a(), r#"{"alg":"none","alg":"RS256","kid":"a"}"#, &body),
        sign_text(&key_a(), r#"{"alg":"RS256","kid":"x","kid":"a"}"#, &body),
        sign_text(&key_a(), r#"{"alg":"RS256","kid":"a"}"#, &dup_claims),
    ] {
        let (status, body, www) = me_with(&url, &[bearer(&token)]).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "TOKEN_INVALID");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
    }
    gw.assert_serving().await;

    // an unknown-kid flood while the JWKS endpoint hangs
    let started = Instant::now();
    let flood = (0..30).map(|i| {
        let t = sign_raw(
            &key_a(),
            &json!({"alg": "RS256", "kid": format!("new-{i}")}),
            &claims(),
        );
        let url = url.clone();
        async move { me_with(&url, &[bearer(&t)]).await }
    });
    for (status, body, _) in join_all(flood).await {
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["errors"][0]["extensions"]["reason"], "TOKEN_INVALID");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the flood took {took:?}");
    gw.assert_serving().await;

    // malformed Authorization headers
    use reqwest::header::HeaderValue;
    for values in [
        vec![HeaderValue::from_static("Basic YTpi")],
        vec![HeaderValue::from_static("")],
        vec![HeaderValue::from_static("Bearer")],
        vec![
            HeaderValue::from_static("Bearer a"),
            HeaderValue::from_static("Bearer b"),
        ],
        vec![HeaderValue::from_bytes("Bearer t\u{f6}k".as_bytes()).unwrap()],
    ] {
        let (status, body, www) = me_with(&url, &values).await;
        assert_eq!(status, 401, "{values:?}: {body}");
        assert!(www.contains("error=\"invalid_token\""), "{values:?}: {www}");
    }
    gw.assert_serving().await;
    gw.stop().await;
}

/// Documents built to cost the parser or validator far more than their size
/// (deep nesting, fragment fan-out) are refused quickly and hurt nothing.
#[tokio::test]
async fn binary_survives_hostile_documents() {
    let mut gw = start(Vec::new()).await;
    let url = gw.url();
    let client = reqwest::Client::new();
    let nested = format!(
        "{{ __typename(a: {}{}) }}",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let mut fan = String::from("query { ...F0 }\n");
    for level in 0..5 {
        fan.push_str(&format!("fragment F{level} on Query {{"));
        for _ in 0..20 {
            fan.push_str(&format!(" ...F{}", level + 1));
        }
        fan.push_str(" }\n");
    }
    fan.push_str("fragment F5 on Query { __typename }\n");
    let requests = [
        client.post(&url).json(&json!({"query": nested})),
        client.get(&url).query(&[("query", nested.as_str())]),
        client.post(&url).json(&json!({"query": fan})),
    ];
    for (i, req) in requests.into_iter().enumerate() {
        let started = Instant::now();
        let resp = req
            .header("accept", "application/json")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("document {i}: no answer: {e}"));
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status) || (status == 200 && body.get("errors").is_some()),
            "document {i}: {status} {body}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "document {i}");
        gw.assert_serving().await;
    }
    gw.stop().await;
}
