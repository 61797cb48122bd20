//! Composition: the SDL files of `graphql.schema` (plus texts a caller
//! adds) and the resolver layers → the executable schema. Start-up, reloads
//! and the offline commands (`print-schema`, `check-config`) all compose
//! here, so they cannot disagree about precedence.

use super::{build, builtin_bindings, read_sources, Bindings, BuiltSchema, GraphqlSettings};
use super::{SchemaError, SdlSource};

/// Reads the SDL of `settings.schema` (plus `extra_sdl`) and builds the
/// schema. Precedence: the built-in placeholders, then each of `layers` in
/// order, a later one winning a clash (the gateway passes the datasource
/// directives, then its services, then the builder's resolvers).
pub fn compose(
    settings: &GraphqlSettings,
    extra_sdl: &[SdlSource],
    layers: &[&Bindings],
) -> Result<BuiltSchema, SchemaError> {
    let mut sources = read_sources(&settings.schema)?;
    sources.extend(extra_sdl.iter().cloned());
    let mut bindings = builtin_bindings();
    for layer in layers {
        bindings.merge(&mut (*layer).clone());
    }
    build(settings, &sources, &bindings)
}
