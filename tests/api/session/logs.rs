//! No password, token or client secret in any log line of a full flow; audit
//! events for logins, with a masked email.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::refresh::full_flow;
use super::{error, login, ok, CLIENT_SECRET, USER};
use crate::helpers::spawn_full;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// Every event of this thread, as JSON lines, while it is alive.
pub(super) struct Capture {
    // dropped in this order, as the locals they were
    _second: tracing::Dispatch,
    _guard: tracing::subscriber::DefaultGuard,
    buffer: Buffer,
}

impl Capture {
    pub(super) fn start() -> Capture {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(buffer.clone())
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .finish();
        // #[tokio::test] runs everything (the server tasks too) on this thread
        let guard = tracing::subscriber::set_default(subscriber);
        // tracing-core caches each callsite's interest. While only ONE dispatcher
        // is registered, a callsite first hit on another test's thread takes its
        // interest from that thread's (absent) subscriber alone: `never`, cached,
        // and this test would miss e.g. every audit event. A second live
        // dispatcher makes registration consult all of them (ours included).
        let second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        Capture {
            _second: second,
            _guard: guard,
            buffer,
        }
    }

    /// All lines captured so far.
    pub(super) fn text(&self) -> String {
        String::from_utf8(self.buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// The audit events captured so far, whole.
    pub(super) fn audits(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["target"] == "audit")
            .collect()
    }
}

/// `application/x-www-form-urlencoded` form of a value (as sent to Auth0).
fn form_encoded(v: &str) -> String {
    serde_urlencoded::to_string([("x", v)]).unwrap()[2..].to_owned()
}

#[tokio::test]
async fn logs_hold_no_secret_and_audit_every_login() {
    let capture = Capture::start();

    let app = spawn_full(|_| {}).await;
    let mut flow = full_flow(&app).await;
    // a success and a failure of the seeded user
    let p = ok(&login(&app, USER.0, USER.1).await, "login").clone();
    for k in ["accessToken", "refreshToken", "idToken"] {
        flow.secrets.push(p[k].as_str().unwrap().to_owned());
    }
    error(
        &login(&app, USER.0, "Wrong-Passw0rd?").await,
        "INVALID_CREDENTIALS",
    );
    flow.secrets.extend([
        USER.1.to_owned(),
        "Wrong-Passw0rd?".to_owned(),
        CLIENT_SECRET.to_owned(),
    ]);

    let text = capture.text();
    assert!(text.lines().count() > 20, "the capture works: {text}");
    for secret in &flow.secrets {
        assert!(secret.len() >= 8);
        for form in [secret.clone(), form_encoded(secret)] {
            if let Some(line) = text.lines().find(|l| l.contains(&form)) {
                panic!("a secret is in the log: {line}");
            }
        }
    }
    // the JWT signature alone (a truncated token would still be a leak)
    for token in flow.secrets.iter().filter(|t| t.matches('.').count() == 2) {
        let sig = token.rsplit('.').next().unwrap();
        assert!(!text.contains(sig), "a token signature is in the log");
    }

    let audits = capture.audits();
    let has = |event: &str, user: &str, outcome: &str| {
        audits.iter().any(|a| {
            let f = &a["fields"];
            f["event"] == event && f["user"] == user && f["outcome"] == outcome
        })
    };
    assert!(has("login", "u***@example.com", "success"), "{audits:#?}");
    assert!(has("login", "u***@example.com", "failure"), "{audits:#?}");
    assert!(has("signup", "f***@example.com", "success"), "{audits:#?}");
    assert!(
        has("logout", "-", "success") || audits.iter().any(|a| a["fields"]["event"] == "logout")
    );
    for a in &audits {
        let f = a["fields"].to_string();
        assert!(
            !f.contains("user@example.com") && !f.contains("flow@example.com"),
            "unmasked: {f}"
        );
        assert!(a["fields"]["client_ip"].is_string(), "{a}");
    }
}
