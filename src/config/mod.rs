//! Typed settings: `config/default.toml` → `--config FILE` → `AUTHGATE__…` env vars.

mod secret;

pub use secret::Secret;
