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

#[test]
fn authz_directives_where_nothing_enforces_them_are_refused() {
    let cases = [
        (
            "extend type Viewer { f(arg: String @authenticated): String }",
            "argument Viewer.f(arg)",
        ),
        (
            "interface Named { n(arg: Int @requiresRoles(roles: [[\"admin\"]])): String }",
            "argument Named.n(arg)",
        ),
        (
            "input Filter { owner: String @requiresPermissions(permissions: [[\"read:all\"]]) }",
            "input field Filter.owner",
        ),
        (
            "input Filter @authenticated { owner: String }",
            "input type Filter",
        ),
        (
            "enum Level { LOW HIGH @requiresScopes(scopes: [[\"admin\"]]) }",
            "enum value Level.HIGH",
        ),
    ];
    for (sdl, place) in cases {
        let err = build_with(sdl)
            .err()
            .unwrap_or_else(|| panic!("{sdl} must be refused"))
            .to_string();
        assert!(err.contains(place), "{sdl}: {err}");
        assert!(err.contains("extra.graphql:1"), "{sdl}: {err}");
        assert!(err.contains("not enforced"), "{sdl}: {err}");
    }
}

#[tokio::test]
async fn an_interface_fields_directive_guards_every_implementation() {
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use crate::datasources::{gateway, source};

    let up = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/docs"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"__typename": "Memo", "id": "m1", "secret": "the memo's secret"},
            {"__typename": "Note", "id": "n1", "secret": "the note's secret"}
        ])))
        .mount(&up)
        .await;
    let sdl = r#"
interface Doc {
  id: ID!
  secret: String @requiresPermissions(permissions: [["read:secrets"]])
}
type Memo implements Doc { id: ID! secret: String }
type Note implements Doc { id: ID! secret: String }
extend type Query { docs: [Doc!]! @rest(source: "docs", path: "/docs") }
"#;
    let g = gateway(sdl, vec![("docs", source(&up.uri()))]).await;
    // through the interface and through each implementation's own field
    let r = g
        .app
        .gql(
            "{ docs { id secret ... on Memo { memo: secret } ... on Note { note: secret } } }",
            json!({}),
            Some("user"),
        )
        .await;
    assert_eq!(
        r.body["data"]["docs"],
        json!([
            {"id": "m1", "secret": null, "memo": null},
            {"id": "n1", "secret": null, "note": null}
        ]),
        "{}",
        r.body
    );
    let errors = r.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{}", r.body);
    assert!(errors
        .iter()
        .all(|e| e["extensions"]["code"] == "FORBIDDEN"));
    assert!(!r.body.to_string().contains("secret\":\"the"), "{}", r.body);
}
