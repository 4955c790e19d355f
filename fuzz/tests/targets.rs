//! Every fuzz target, fuzzed for a bounded time on stable Rust: one test each, so the test
//! runner runs them in parallel and names the one that failed.
//!
//! `SWITCHBOARD_FUZZ_SECONDS` (default 5), `SWITCHBOARD_FUZZ_ITERATIONS` and
//! `SWITCHBOARD_FUZZ_SEED` set the budget; see `fuzz/README.md`.

use switchboard_fuzz::TARGETS;
use switchboard_fuzz::driver::{self, Budget};

/// Fuzzes the target called `name` and fails with the reproduction report on a panic.
fn fuzz(name: &str) {
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fuzz target `{name}`"));
    match driver::fuzz(name, *target, &Budget::from_env()) {
        Ok(summary) => println!("{name}: {summary}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Declares one test per target; the list must match `TARGETS` (checked below).
macro_rules! fuzz_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fuzz(stringify!($name));
            }
        )*

        /// Every target has a test, and every test a target.
        #[test]
        fn every_target_has_a_test() {
            let mut tested = vec![$(stringify!($name)),*];
            let mut targets: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            tested.sort_unstable();
            targets.sort_unstable();
            assert_eq!(tested, targets);
        }
    };
}

fuzz_tests!(
    transport_ws_frame,
    legacy_ws_frame,
    appsync_frame,
    appsync_events_frame,
    appsync_auth,
    sigv4_authorization,
    jwt_header,
    topic_key,
    graphql_request,
    subscription_filter,
    stream_extensions,
);

/// The seeds are real inputs that the parsers accept: a seed that no longer decodes means the
/// corpus went stale and the fuzzer starts from noise.
#[test]
fn seeds_reach_past_the_first_parser() {
    use serde_json::Value as Json;
    use switchboard::protocol::Protocol;
    for (name, protocol) in [
        ("transport_ws_frame", Protocol::GraphqlTransportWs),
        ("legacy_ws_frame", Protocol::SubscriptionsTransportWs),
        ("appsync_frame", Protocol::AppSync),
        ("appsync_events_frame", Protocol::AppSyncEvents),
    ] {
        let decoded = driver::load_corpus(name)
            .unwrap()
            .iter()
            .filter(|seed| protocol.decode(&String::from_utf8_lossy(seed)).is_ok())
            .count();
        assert!(decoded >= 3, "{name}: only {decoded} seeds decode");
    }
    for name in [
        "topic_key",
        "graphql_request",
        "subscription_filter",
        "stream_extensions",
    ] {
        for seed in driver::load_corpus(name).unwrap() {
            let is_json = serde_json::from_slice::<Json>(&seed).is_ok();
            let is_graphql =
                async_graphql::parser::parse_query(String::from_utf8_lossy(&seed)).is_ok();
            assert!(
                is_json || is_graphql,
                "{name}: a seed is neither JSON nor GraphQL"
            );
        }
    }
}

/// The signed seeds pass verification, so mutations start at the far end of the verifiers
/// (claims, signature comparison) rather than at their first check.
#[test]
fn signed_seeds_verify() {
    use std::time::Duration;
    use switchboard::auth::Credentials;
    use switchboard::auth::sigv4;
    use switchboard_fuzz::fixtures;

    let fixtures = fixtures::get();
    let seed = |target: &str, file: &str| {
        std::fs::read_to_string(driver::corpus_dir(target).join(file)).unwrap()
    };
    for file in ["token_hs256_bearer.txt", "token_rs256.txt"] {
        let token = seed("jwt_header", file);
        let verified = fixtures.runtime.block_on(fixtures.jwt.verify(&token));
        assert!(verified.is_ok(), "{file}: {verified:?}");
    }
    for file in [
        "botocore_post_graphql.json",
        "botocore_connect_session_token.json",
        "smithy_start_session_token.json",
    ] {
        let request: serde_json::Value =
            serde_json::from_str(&seed("sigv4_authorization", file)).unwrap();
        let credentials = Credentials::from_json(&request["headers"]).unwrap();
        let date = credentials.get("x-amz-date").unwrap();
        let verified = sigv4::verify_credentials(
            &fixtures.iam,
            &credentials,
            request["path"].as_str().unwrap(),
            request["query"].as_str().unwrap(),
            request["body"].as_str().unwrap().as_bytes(),
            sigv4::parse_amz_date(date).unwrap(),
            Duration::from_secs(300),
        );
        assert!(verified.is_ok(), "{file}: {verified:?}");
    }
}
