//! Downstream datasources: the team's micro-services behind SDL directives.

/// Directive names reserved for datasources (`@rest`, `@graphql`).
pub const DIRECTIVES: &[&str] = &["rest", "graphql"];
