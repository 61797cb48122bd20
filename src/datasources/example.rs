//! A tiny "orders" service for the README tour and tests: REST endpoints
//! (`/orders`, `/orders/{id}`, `/customers?ids=`) and a GraphQL endpoint
//! (`/graphql`: `products`). `authgate example-upstream --port N` serves it.

use std::sync::{Arc, Mutex};

use async_graphql::{EmptyMutation, EmptySubscription, Object, SimpleObject, ID};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    customer_id: String,
    total: f64,
    status: &'static str,
    /// who created it (the `x-user-id` header), when known
    created_by: Option<String>,
}

#[derive(Clone)]
struct Shop {
    orders: Arc<Mutex<Vec<Order>>>,
}

fn seed() -> Vec<Order> {
    vec![
        Order {
            id: "1".into(),
            customer_id: "c1".into(),
            total: 42.5,
            status: "PAID",
            created_by: None,
        },
        Order {
            id: "2".into(),
            customer_id: "c2".into(),
            total: 10.0,
            status: "SHIPPED",
            created_by: None,
        },
        Order {
            id: "3".into(),
            customer_id: "c1".into(),
            total: 7.25,
            status: "PENDING",
            created_by: None,
        },
    ]
}

const CUSTOMERS: &[(&str, &str, &str)] = &[
    ("c1", "Ada Lovelace", "ada@example.com"),
    ("c2", "Grace Hopper", "grace@example.com"),
];

/// The example service's routes.
pub fn router() -> Router {
    let shop = Shop {
        orders: Arc::new(Mutex::new(seed())),
    };
    Router::new()
        .route("/orders", get(list_orders).post(create_order))
        .route("/orders/{id}", get(one_order))
        .route("/customers", get(customers))
        .route("/graphql", post(graphql))
        .with_state(shop)
}

/// Serves the example service on `listener` until the task is dropped.
pub async fn serve_example(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}

fn orders(shop: &Shop) -> std::sync::MutexGuard<'_, Vec<Order>> {
    shop.orders.lock().unwrap_or_else(|p| p.into_inner())
}

async fn list_orders(State(shop): State<Shop>) -> Json<Vec<Order>> {
    Json(orders(&shop).clone())
}

async fn one_order(State(shop): State<Shop>, Path(id): Path<String>) -> Response {
    match orders(&shop).iter().find(|o| o.id == id) {
        Some(o) => Json(o.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"message": "order not found"})),
        )
            .into_response(),
    }
}

async fn create_order(
    State(shop): State<Shop>,
    headers: axum::http::HeaderMap,
    Json(input): Json<Value>,
) -> Response {
    let customer_id = input.get("customerId").and_then(Value::as_str);
    let total = input.get("total").and_then(Value::as_f64);
    let (Some(customer_id), Some(total)) = (customer_id, total) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "customerId and total are required"})),
        )
            .into_response();
    };
    if total <= 0.0 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"message": "total must be positive"})),
        )
            .into_response();
    }
    let mut all = orders(&shop);
    let order = Order {
        id: (all.len() + 1).to_string(),
        customer_id: customer_id.to_owned(),
        total,
        status: "PENDING",
        created_by: headers
            .get("x-user-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    all.push(order.clone());
    (StatusCode::CREATED, Json(order)).into_response()
}

#[derive(serde::Deserialize)]
struct Ids {
    ids: Option<String>,
}

async fn customers(Query(q): Query<Ids>) -> Json<Vec<Value>> {
    let wanted: Vec<String> = q
        .ids
        .unwrap_or_default()
        .split(',')
        .map(str::to_owned)
        .collect();
    Json(
        CUSTOMERS
            .iter()
            .filter(|(id, _, _)| wanted.iter().any(|w| w == id))
            .map(|(id, name, email)| json!({"id": id, "name": name, "email": email}))
            .collect(),
    )
}

#[derive(SimpleObject, Clone)]
struct Product {
    id: ID,
    name: String,
    price: f64,
}

struct ProductsQuery;

#[Object]
impl ProductsQuery {
    async fn products(&self, first: Option<i32>) -> Vec<Product> {
        let all = vec![
            Product {
                id: ID::from("p1"),
                name: "Teapot".into(),
                price: 25.0,
            },
            Product {
                id: ID::from("p2"),
                name: "Kettle".into(),
                price: 40.0,
            },
            Product {
                id: ID::from("p3"),
                name: "Cup".into(),
                price: 5.0,
            },
        ];
        let n = first.map_or(all.len(), |f| usize::try_from(f).unwrap_or(0));
        all.into_iter().take(n).collect()
    }
}

async fn graphql(Json(req): Json<async_graphql::Request>) -> Json<async_graphql::Response> {
    let schema = async_graphql::Schema::new(ProductsQuery, EmptyMutation, EmptySubscription);
    Json(schema.execute(req).await)
}
