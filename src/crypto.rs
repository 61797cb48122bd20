//! The process's one crypto provider: aws-lc-rs, which already signs and
//! verifies JWTs (jsonwebtoken's backend), also serves TLS (reqwest, lettre),
//! so ring is not built at all. rustls needs it installed as the process
//! default before the first client is built; every place that builds one
//! calls [`install`], and `main` calls it first.

/// Installs aws-lc-rs as rustls' process default. Idempotent: a provider
/// already installed (by an earlier call, or by an embedding program) stays.
pub fn install() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // a concurrent caller may win the race: either way one is installed
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_provider_is_aws_lc_rs() {
        super::install();
        super::install();
        let p = rustls::crypto::CryptoProvider::get_default();
        let expected = rustls::crypto::aws_lc_rs::default_provider();
        assert!(p.is_some_and(|p| p.cipher_suites.len() == expected.cipher_suites.len()));
    }
}
