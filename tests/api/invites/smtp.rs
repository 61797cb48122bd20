//! SMTP delivery against a tiny fake relay on 127.0.0.1:0.

use std::path::PathBuf;
use std::time::Duration;

use authgate::invite::{self, Delivery, InviteSettings, SmtpSettings};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// Accepts SMTP sessions (no TLS, no auth) and sends each message's DATA on the channel.
async fn fake_relay() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                w.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap()).unwrap();
                            w.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-fake\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            w.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    w.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

/// Undoes soft line breaks and `=XX` escapes (the body is quoted-printable).
fn quoted_printable_decode(raw: &str) -> String {
    let joined = raw.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn smtp_settings(port: u16) -> InviteSettings {
    InviteSettings {
        delivery: Delivery::Smtp(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            from: "Acme <no-reply@acme.example>".into(),
            subject: "Join Acme".into(),
            template_path: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("config/invitation-email.txt"),
            starttls: false,
            timeout: Duration::from_secs(5),
            ..SmtpSettings::default()
        }),
        ..InviteSettings::default()
    }
}

#[tokio::test]
async fn smtp_delivery_emails_the_link_and_returns_none() {
    let (port, mut inbox) = fake_relay().await;
    let settings = smtp_settings(port);
    settings.validate().unwrap();
    let idp = idp().await;
    let auth0 = auth0_for(idp.base_url());
    let svc = Arc::new(invite::build(settings, &auth0, management(&auth0)).unwrap());
    let app = gateway(svc).await;

    let r = app
        .gql(
            INVITE,
            json!({"input": {"email": "mail@example.com", "roles": ["user"]}}),
            Some("admin"),
        )
        .await;
    let inv = data(&r, "inviteUser");
    assert!(inv["ticketUrl"].is_null(), "{inv}");
    assert_eq!(inv["resent"], false);

    let mail = quoted_printable_decode(&inbox.recv().await.unwrap());
    assert!(mail.contains("To: mail@example.com"), "{mail}");
    assert!(mail.contains("Subject: Join Acme"), "{mail}");
    assert!(
        mail.contains("ada@example.com has invited you"),
        "inviter: {mail}"
    );
    let last = last_ticket(&idp, "mail@example.com").await;
    let link = format!("{}type=invite", last["url"].as_str().unwrap());
    assert!(mail.contains(&link), "link {link} not in {mail}");
}

#[tokio::test]
async fn an_unreachable_relay_is_upstream_unavailable_and_keeps_the_user() {
    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let idp = idp().await;
    let auth0 = auth0_for(idp.base_url());
    let svc = Arc::new(invite::build(smtp_settings(port), &auth0, management(&auth0)).unwrap());
    let app = gateway(svc).await;
    let r = app
        .gql(
            INVITE,
            json!({"input": {"email": "lost@example.com", "roles": []}}),
            Some("admin"),
        )
        .await;
    assert_eq!(r.code(0), "UPSTREAM_UNAVAILABLE", "{}", r.body);
    assert!(r.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("resendInvitation"));
    // The user exists and is still invitable.
    let users = management(&auth0)
        .users_by_email("lost@example.com")
        .await
        .unwrap();
    assert_eq!(users.len(), 1);
}
