//! The schema is built from SDL: composition errors name `file:line`, and the
//! checked-in composed SDL is what the gateway serves.

use authgate::graphql::{self, SdlSource};

use crate::helpers::test_settings;

fn build_with(extra: &str) -> Result<graphql::BuiltSchema, graphql::SchemaError> {
    let s = test_settings();
    let mut sources = graphql::read_sources(&s.graphql.schema).unwrap();
    sources.push(SdlSource {
        name: "extra.graphql".into(),
        text: extra.into(),
    });
    graphql::build(
        &s.graphql,
        &sources,
        &authgate::startup::offline_bindings(&s).unwrap(),
    )
}

#[test]
fn composed_sdl_is_checked_in_and_fresh() {
    // what `cargo run` serves: the defaults with the development layer
    let s = authgate::config::Settings::load_from(None, Vec::new()).unwrap();
    let sources = graphql::read_sources(&s.graphql.schema).unwrap();
    let built = graphql::build(
        &s.graphql,
        &sources,
        &authgate::startup::offline_bindings(&s).unwrap(),
    )
    .unwrap();
    let on_disk = std::fs::read_to_string(&s.graphql.composed_schema).unwrap_or_default();
    assert!(
        on_disk == built.sdl,
        "{} is stale: run `cargo run -- print-schema > {}` and commit it",
        s.graphql.composed_schema.display(),
        s.graphql.composed_schema.display()
    );
}

#[test]
fn an_unresolvable_root_field_names_file_line_and_field() {
    let err = build_with("extend type Query {\n  ordersx: [String]\n}\n")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("extra.graphql:2"), "{err}");
    assert!(err.contains("Query.ordersx"), "{err}");
}

#[test]
fn an_unknown_directive_stops_the_build() {
    let err = build_with("extend type Query {\n  x: String @cached(ttl: 5)\n}\n")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("extra.graphql:2"), "{err}");
    assert!(err.contains("@cached"), "{err}");
}

#[test]
fn a_syntax_error_names_file_and_line() {
    let err = build_with("type Broken {\n  a: \n}\n")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.starts_with("extra.graphql:"), "{err}");
}

#[test]
fn duplicate_types_and_fields_are_refused() {
    let err = build_with("type Viewer { x: String }")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("already defined"), "{err}");
    let err = build_with("extend type Viewer { id: ID! }")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("defined twice"), "{err}");
}

#[test]
fn bad_authz_arguments_are_refused() {
    let err = build_with("extend type Viewer { x: String @requiresPermissions(permissions: 5) }")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("list of lists"), "{err}");
}
