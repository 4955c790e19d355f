//! Where each `serve` flag lands: a path in the [`Definition`](super::Definition) (the API's
//! description, which a flag or its environment variable overrides), or operational (how this
//! node runs, kept out of the API; the definition's optional `server` section may hold it).
//! `tests/it/api_definition.rs` fails when a flag is in neither list.

/// A flag's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Describes the API: the definition path it overrides.
    Api(&'static str),
    /// How this node runs: `server.<group>.<flag>`.
    Operational,
}

/// Every `serve` argument, by its clap id, and its place.
pub const FLAG_PATHS: &[(&str, Place)] = &[
    ("schema", Place::Api("graphql.schema.file")),
    (
        "rules",
        Place::Api("graphql.subscriptions, graphql.invalidations"),
    ),
    ("user_arg", Place::Api("graphql.userArgument")),
    ("auth_default", Place::Api("graphql.auth.default")),
    ("auth_additional", Place::Api("graphql.auth.additional")),
    ("api_keys", Place::Api("apiKeys[].value")),
    ("api_keys_file", Place::Api("apiKeys[].file")),
    (
        "jwks_file",
        Place::Api("auth.providers.<token>.local.jwks.file"),
    ),
    (
        "jwks_url",
        Place::Api("auth.providers.<token>.local.jwks.url"),
    ),
    ("jwt_issuer", Place::Api("auth.providers.<token>.issuer")),
    (
        "jwt_audience",
        Place::Api("auth.providers.<token>.clientId"),
    ),
    (
        "jwt_hs256_secret",
        Place::Api("auth.providers.<token>.local.hs256Secret"),
    ),
    (
        "jwt_leeway",
        Place::Api("auth.providers.<token>.local.leeway"),
    ),
    (
        "jwks_refresh",
        Place::Api("auth.providers.<token>.local.jwks.refresh"),
    ),
    (
        "jwks_min_refetch",
        Place::Api("auth.providers.<token>.local.jwks.minRefetch"),
    ),
    (
        "authorizer_url",
        Place::Api("auth.providers.<lambda>.local.url"),
    ),
    (
        "authorizer_ttl",
        Place::Api("auth.providers.<lambda>.authorizerResultTtlInSeconds"),
    ),
    (
        "authorizer_timeout",
        Place::Api("auth.providers.<lambda>.local.timeout"),
    ),
    (
        "iam_credentials",
        Place::Api("auth.providers.<iam>.local.credentials"),
    ),
    (
        "iam_max_skew",
        Place::Api("auth.providers.<iam>.local.maxSkew"),
    ),
    ("api_id", Place::Api("api.id")),
    ("account_id", Place::Api("api.accountId")),
    ("owner_arg", Place::Api("access.owner.argument")),
    ("owner_claim", Place::Api("access.owner.claim")),
    ("admin_group", Place::Api("access.adminGroup")),
    ("trusted_modes", Place::Api("access.trustedModes")),
    (
        "replay_latest",
        Place::Api("graphql.subscriptions.<field>.replayLatest"),
    ),
    ("max_query_depth", Place::Api("graphql.limits.queryDepth")),
    (
        "max_query_complexity",
        Place::Api("graphql.limits.queryComplexity"),
    ),
    (
        "max_payload_bytes",
        Place::Api("graphql.limits.payloadBytes"),
    ),
    (
        "max_subscriptions_per_connection",
        Place::Api("graphql.limits.subscriptionsPerConnection"),
    ),
    ("event_namespaces", Place::Api("events.namespaces")),
    (
        "event_owner_segment",
        Place::Api("events.namespaces.<ns>.ownerSegment"),
    ),
    ("event_connect_modes", Place::Api("events.auth.connect")),
    (
        "event_namespace_modes",
        Place::Api("events.auth.defaultPublish, events.namespaces.<ns>.publish"),
    ),
    ("event_bridge", Place::Api("events.bridge")),
    ("max_event_bytes", Place::Api("events.limits.eventBytes")),
    (
        "max_event_subscriptions",
        Place::Api("events.limits.subscriptionsPerConnection"),
    ),
    ("listen", Place::Operational),
    ("listen_backlog", Place::Operational),
    ("shutdown_deadline", Place::Operational),
    ("shutdown_drain_window", Place::Operational),
    ("log_format", Place::Operational),
    ("node_id", Place::Operational),
    ("print_amplify_config", Place::Operational),
    ("allowed_origins", Place::Operational),
    ("trusted_proxies", Place::Operational),
    ("max_connections_per_address", Place::Operational),
    ("max_http_connections_per_address", Place::Operational),
    ("max_connections", Place::Operational),
    ("request_body_timeout", Place::Operational),
    ("request_body_min_rate", Place::Operational),
    ("max_auth_failures_per_minute", Place::Operational),
    ("auth_failure_window", Place::Operational),
    ("outbound_queue", Place::Operational),
    ("max_frame_bytes", Place::Operational),
    ("max_request_bytes", Place::Operational),
    ("redis_url", Place::Operational),
    ("redis_prefix", Place::Operational),
    ("redis_timeout", Place::Operational),
    ("redis_sentinel_lookup", Place::Operational),
    ("redis_inbox", Place::Operational),
    ("store", Place::Operational),
    ("heartbeat", Place::Operational),
    ("dynamodb_table", Place::Operational),
    ("dynamodb_endpoint", Place::Operational),
    ("dynamodb_region", Place::Operational),
    ("admin_api_keys", Place::Operational),
    ("keepalive", Place::Operational),
    ("connection_timeout", Place::Operational),
    ("max_connection_lifetime", Place::Operational),
    ("legacy_keepalive", Place::Operational),
    ("connection_init_timeout", Place::Operational),
    ("subscribe_timeout", Place::Operational),
    ("ws_read_buffer_bytes", Place::Operational),
    ("ws_write_buffer_bytes", Place::Operational),
    ("ws_max_write_buffer_bytes", Place::Operational),
    ("parsed_document_cache", Place::Operational),
    ("history_per_topic", Place::Operational),
    ("history_max_topics", Place::Operational),
    ("history_topic_bytes", Place::Operational),
    ("history_max_bytes", Place::Operational),
    ("history_max_age", Place::Operational),
    ("idempotency_ttl", Place::Operational),
    ("idempotency_max_keys", Place::Operational),
    ("replay_max", Place::Operational),
    ("tls_cert", Place::Operational),
    ("tls_key", Place::Operational),
    ("tls_self_signed", Place::Operational),
];

/// The place of the `serve` argument `id`, if it has one.
pub fn place(id: &str) -> Option<Place> {
    FLAG_PATHS
        .iter()
        .find(|(flag, _)| *flag == id)
        .map(|(_, place)| *place)
}
