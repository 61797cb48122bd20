//! `[datasources.NAME.tls]`: a private CA and a client certificate, against a
//! TLS upstream double that requires one (test-only certificates in
//! `tests/fixtures/tls/`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use authgate::datasources::{DatasourceSettings, Datasources};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{gateway, source};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
const SDL: &str = r#"
type Ping { ok: Boolean }
extend type Query { ping: Ping @rest(source: "secure", path: "/ping") }
"#;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(FIXTURES).join(name)
}

/// An HTTPS upstream on 127.0.0.1 with the test CA's server certificate; it
/// refuses a handshake without a client certificate signed by the same CA,
/// and counts the requests it answered.
async fn mtls_upstream() -> (String, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_file(fixture("server.pem")).unwrap()],
            PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let has_client_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty());
                assert!(has_client_cert, "the verifier requires one");
                count.fetch_add(1, Ordering::SeqCst);
                let body = br#"{"ok":true}"#;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), answered)
}

fn with_tls(url: &str, ca: bool, client: bool) -> DatasourceSettings {
    let mut s = source(url);
    if ca {
        s.tls.ca_file = Some(fixture("ca.pem"));
    }
    if client {
        s.tls.client_cert = Some(fixture("client.pem"));
        s.tls.client_key = Some(fixture("client.key"));
    }
    s
}

#[tokio::test]
async fn a_private_ca_and_a_client_certificate_reach_an_mtls_upstream() {
    let (url, answered) = mtls_upstream().await;
    let g = gateway(SDL, vec![("secure", with_tls(&url, true, true))]).await;
    let r = g.app.gql("{ ping { ok } }", json!({}), Some("user")).await;
    assert_eq!(r.body, json!({"data": {"ping": {"ok": true}}}));
    assert_eq!(answered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn without_the_ca_or_without_the_client_certificate_the_call_fails() {
    let (url, answered) = mtls_upstream().await;
    for (ca, client) in [(false, false), (true, false)] {
        let g = gateway(SDL, vec![("secure", with_tls(&url, ca, client))]).await;
        let r = g.app.gql("{ ping { ok } }", json!({}), Some("user")).await;
        assert_eq!(
            r.body["data"]["ping"],
            serde_json::Value::Null,
            "{ca} {client}"
        );
        assert!(r.body["errors"].is_array(), "{ca} {client}: {}", r.body);
    }
    assert_eq!(answered.load(Ordering::SeqCst), 0);
}

#[test]
fn bad_tls_files_stop_start_up_naming_the_key() {
    let build = |s: DatasourceSettings| {
        let map = BTreeMap::from([("secure".to_owned(), s)]);
        match Datasources::new(&map, reqwest::Client::new(), None, None) {
            Ok(_) => panic!("the datasources should not build"),
            Err(e) => e,
        }
    };
    let mut s = source("https://127.0.0.1:1");
    s.tls.ca_file = Some(fixture("missing.pem"));
    let errs = build(s);
    assert_eq!(errs[0].0, "datasources.secure.tls.ca_file", "{errs:?}");
    // a key file is not a CA bundle
    let mut s = source("https://127.0.0.1:1");
    s.tls.ca_file = Some(fixture("client.key"));
    assert_eq!(build(s)[0].0, "datasources.secure.tls.ca_file");
    let mut s = source("https://127.0.0.1:1");
    s.tls.client_cert = Some(fixture("client.pem"));
    let errs = build(s);
    assert_eq!(errs[0].0, "datasources.secure.tls.client_key", "{errs:?}");
    // a certificate and the wrong key: no key material in the message
    let mut s = with_tls("https://127.0.0.1:1", false, true);
    s.tls.client_key = Some(fixture("ca.pem"));
    let errs = build(s);
    assert_eq!(errs[0].0, "datasources.secure.tls.client_cert", "{errs:?}");
    assert!(!errs[0].1.contains("BEGIN"), "{errs:?}");
}
