//! TLS towards one datasource: extra trust roots (a private CA) and a client
//! certificate (mutual TLS). Without them the shared client serves the
//! datasource, trusting the system store and the Mozilla roots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[datasources.NAME.tls]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// A PEM bundle of CA certificates trusted for this datasource, besides
    /// the system store and the Mozilla roots.
    pub ca_file: Option<PathBuf>,
    /// A PEM certificate chain presented to the datasource (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

impl TlsSettings {
    /// Nothing set: the shared client serves the datasource.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// `(key, message)` for each problem that needs no file access.
    pub(crate) fn validate(&self, name: &str) -> Vec<(String, String)> {
        let key = |k: &str| format!("datasources.{name}.tls.{k}");
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => vec![(key("client_key"), "is required with client_cert".into())],
            (None, Some(_)) => vec![(key("client_cert"), "is required with client_key".into())],
            _ => Vec::new(),
        }
    }

    /// A client of its own for the datasource, or `None` when nothing is set.
    /// The files are read now, so that a bad path stops start-up (or a
    /// reload) with the key that names it; no file content is ever printed.
    pub(crate) fn client(&self, name: &str) -> Result<Option<reqwest::Client>, (String, String)> {
        if self.is_default() {
            return Ok(None);
        }
        let key = |k: &str| format!("datasources.{name}.tls.{k}");
        let read = |k: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| (key(k), format!("cannot read {}: {e}", path.display())))
        };
        let mut builder =
            crate::outbound::builder(crate::outbound::USER_AGENT, Duration::from_secs(5));
        if let Some(path) = &self.ca_file {
            let pem = read("ca_file", path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    (
                        key("ca_file"),
                        format!("{} holds no PEM certificate", path.display()),
                    )
                })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let (Some(cert), Some(private)) = (&self.client_cert, &self.client_key) {
            let mut pem = read("client_cert", cert)?;
            pem.push(b'\n');
            pem.extend(read("client_key", private)?);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|_| {
                (
                    key("client_cert"),
                    format!(
                        "{} and {} are not a PEM certificate chain and its private key",
                        cert.display(),
                        private.display()
                    ),
                )
            })?;
            builder = builder.identity(identity);
        }
        builder.build().map(Some).map_err(|e| {
            (
                key("ca_file"),
                format!("the TLS client could not be built: {e}"),
            )
        })
    }
}
