//! Settings parsing and defaults.

use super::*;

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("soon").is_err());
    assert!(parse_duration("5 days").is_err());
}

#[test]
fn defaults_match_the_readme() {
    let s = Settings::from_args(Vec::<String>::new()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(s.outbound_queue, 1024);
    assert_eq!(s.max_frame_bytes, 262_144);
    assert_eq!(s.max_subscriptions_per_connection, 100);
    assert_eq!(s.websocket.connection_init_timeout, Duration::from_secs(10));
    assert_eq!(s.history_per_topic, 100);
    assert_eq!(s.cluster.redis_url, None);
    assert_eq!(s.cluster.store_kind(), StoreKind::Memory);
    assert_eq!(s.cluster.heartbeat, Duration::from_secs(10));
    assert_eq!(s.cluster.record_ttl(), Duration::from_secs(30));
    assert_eq!(s.history_max_bytes, 256 << 20);
    assert_eq!(s.history_topic_bytes, 256 << 10);
    assert_eq!(s.history_max_age, Duration::from_secs(24 * 3600));
    let clustered = Settings::from_args(["--redis-url", "redis://127.0.0.1:6379"]).unwrap();
    assert_eq!(clustered.cluster.store_kind(), StoreKind::Redis);
    assert_eq!(s.websocket.connection_timeout, Duration::from_secs(300));
    assert_eq!(
        s.websocket.max_connection_lifetime,
        Duration::from_secs(24 * 3600)
    );
    assert_eq!(s.max_payload_bytes, 245_760);
    assert!(Settings::from_args(["--keepalive", "61s"]).is_err());
    assert!(Settings::from_args(["--keepalive", "0s"]).is_err());
    assert!(
        s.websocket.legacy_keepalive < Duration::from_secs(30),
        "inside Apollo's 30 s alarm"
    );
}

#[test]
fn namespace_modes_by_action_and_wildcard() {
    let settings = Settings::from_args([
        "--event-namespace-modes",
        "feed:subscribe=api-key,feed=oidc+cognito,*:publish=iam",
    ])
    .unwrap();
    let events = &settings.events;
    use crate::events::channel::ChannelAction::{Publish, Subscribe};
    assert_eq!(
        events.modes_for("feed", Subscribe),
        Some(&[AuthMode::ApiKey][..])
    );
    assert_eq!(
        events.modes_for("feed", Publish),
        Some(&[AuthMode::Oidc, AuthMode::Cognito][..])
    );
    assert_eq!(
        events.modes_for("other", Publish),
        Some(&[AuthMode::Iam][..])
    );
    assert_eq!(events.modes_for("other", Subscribe), None);
    for bad in ["feed:read=oidc", "feed", "feed=nope"] {
        assert!(
            Settings::from_args(["--event-namespace-modes", bad]).is_err(),
            "{bad}"
        );
    }
}
