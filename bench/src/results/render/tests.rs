use std::collections::BTreeMap;

use super::*;
use crate::protocol::Protocol;
use crate::results::Machine;

fn run(label: &str, protocol: Protocol, f: impl FnOnce(&mut Report)) -> Outcome {
    let mut r = Report {
        scenario: label.to_owned(),
        protocol: Some(protocol),
        connections: 1000,
        users: 1000,
        publishers: 8,
        warmup_s: 2.0,
        duration_s: 10.0,
        drain_s: 2.0,
        latency_samples: 100,
        server_rss_kib_before: Some(10_240),
        server_rss_kib_connected: Some(16_240),
        rss_per_connection_bytes: Some(6144.0),
        server_cpu_s: Some(10.0),
        ..Report::default()
    };
    f(&mut r);
    Outcome::Ran(Box::new(r))
}

fn results() -> Results {
    let mut runs = BTreeMap::new();
    runs.insert(
        (Scenario::S1, Server::Switchboard),
        run("S1/switchboard", Protocol::TransportWs, |r| {
            r.delivered_statuses_per_s = 30_000.0;
            r.p99_us = 1500;
        }),
    );
    runs.insert(
        (Scenario::S1, Server::GraphqlWs),
        run("S1/graphql-ws", Protocol::TransportWs, |r| {
            r.delivered_statuses_per_s = 5_000.0;
            r.lost = 2;
        }),
    );
    runs.insert(
        (Scenario::S1, Server::AppsyncSimulator),
        Outcome::Failed("server did not print `ready` within 30 s".into()),
    );
    runs.insert(
        (Scenario::S1, Server::SwitchboardRedis),
        run("S1/switchboard-redis", Protocol::TransportWs, |r| {
            r.delivered_statuses_per_s = 16_000.0;
        }),
    );
    runs.insert(
        (Scenario::S1, Server::SwitchboardRedis3),
        run("S1/switchboard-redis-3", Protocol::TransportWs, |r| {
            r.delivered_statuses_per_s = 12_000.0;
            r.duplicates = 1;
        }),
    );
    runs.insert(
        (Scenario::S1, Server::SwitchboardRedisCluster),
        run("S1/switchboard-rediscluster", Protocol::TransportWs, |r| {
            r.delivered_statuses_per_s = 15_000.0;
        }),
    );
    runs.insert(
        (Scenario::S1, Server::SwitchboardRedisCluster3),
        run(
            "S1/switchboard-rediscluster-3",
            Protocol::TransportWs,
            |r| {
                r.delivered_statuses_per_s = 10_000.0;
                r.lost = 3;
                r.publish_errors = 2;
                r.first_publish_error = Some("HTTP 500".into());
            },
        ),
    );
    runs.insert(
        (Scenario::S4, Server::Switchboard),
        run("S4/switchboard", Protocol::TransportWs, |r| {
            r.rate_target = Some(2000.0);
            r.published_per_s = 1990.0;
            r.p99_us = 1800;
        }),
    );
    runs.insert(
        (Scenario::S4, Server::GraphqlWs),
        run("S4/graphql-ws", Protocol::TransportWs, |r| {
            r.rate_target = Some(2000.0);
            r.published_per_s = 1000.0;
            r.p99_us = 5400;
        }),
    );
    runs.insert(
        (Scenario::S5, Server::Switchboard),
        run("S5/switchboard", Protocol::TransportWs, |r| {
            r.connections = 19_800;
            r.users = 19_800;
            r.connections_receiving = 19_800;
            r.deliveries_per_s = 4000.0;
        }),
    );
    runs.insert(
        (Scenario::S6, Server::Switchboard),
        run("S6/switchboard", Protocol::TransportWs, |r| {
            r.server_rss_kib_after = Some(16_240 + 20 * 1024);
            r.churn = Some(crate::churn::ChurnReport {
                rate_target: 2000.0,
                started: 120_000,
                started_per_s: 2000.0,
                received: 119_999,
                missed: 1,
                ack_p99_us: 12_500,
                ..Default::default()
            });
        }),
    );
    Results {
        mode: Mode::Full,
        date: "2026-01-02".into(),
        command: "bench/run.sh full".into(),
        machine: Machine::default(),
        runs,
        redis_cpu_s: BTreeMap::from([
            ((Scenario::S1, Server::SwitchboardRedis), 4.31),
            ((Scenario::S1, Server::SwitchboardRedisCluster), 7.04),
            ((Scenario::S1, Server::SwitchboardRedisCluster3), 12.96),
        ]),
    }
}

#[test]
fn renders_tables_ratios_targets_and_projection() {
    let md = markdown(&results());
    assert!(md.starts_with("# Switchboard benchmark — 2026-01-02\n"));
    assert!(md.contains("```sh\nbench/run.sh full\n```"));
    // S1: 30,000 vs 5,000 → 6×, the failed simulator row says why.
    assert!(md.contains("| 6.00× |  |"), "{md}");
    assert!(md.contains("**failed**: server did not print `ready` within 30 s"));
    // S4: p99 5.4 ms vs 1.8 ms → 3×, and the peer missed the rate.
    assert!(
        md.contains("| 3.00× | did not hold the target rate"),
        "{md}"
    );
    // Targets.
    assert!(md.contains("| S1: ≥ 25,000 statuses/s delivered (one subscriber per user) | 30,000/s, lost 0 | **met** |"), "{md}");
    assert!(md.contains("| S1: ≥ 5× graphql-ws | 6.00× (graphql-ws 5,000/s) | **met** |"));
    assert!(md.contains("| S2: ≥ 300,000 deliveries/s | — | not run |"));
    assert!(
        md.contains("p99 1.80 ms at 1,990/s, lost 0 | **met** |"),
        "{md}"
    );
    assert!(md.contains("19,800 of 19,800 asked held, 19,800 receiving, lost 0 | **met** |"));
    // S6: one churner missed its status; the RSS grew 20 MiB, inside the budget (24 MiB).
    assert!(
        md.contains("2000/s, 0 failed, 1 missed; p99 12.5 ms | **not met** |"),
        "{md}"
    );
    assert!(md.contains("| +20.0 MiB | **met** |"), "{md}");
    // Projection: 10 s × 4,000/s = 40,000 deliveries for 10 CPU s → 250 µs each.
    assert!(md.contains("c = 250.00 µs"), "{md}");
    // 100,000 × 6 KiB + 10 MiB = 0.58 GiB.
    assert!(md.contains("| 100,000 | 0.58 GiB |"), "{md}");
    assert!(md.ends_with("## Analysis\n\n<!-- analysis: written by hand after the run -->\n"));
}

#[test]
fn redis_rows_in_s1_and_the_targets() {
    let md = markdown(&results());
    // In S1's table, after the in-memory row: 30,000 ÷ 16,000 and ÷ 12,000.
    let s1 = &md[md.find("## S1").unwrap()..md.find("## S2").unwrap()];
    let memory = s1.find("| Switchboard | `transport-ws` |").unwrap();
    let one = s1
        .find("| Switchboard on Redis (1 node) | `transport-ws` |")
        .unwrap();
    let three = s1
        .find("| Switchboard on Redis (3 nodes) | `transport-ws` |")
        .unwrap();
    assert!(memory < one && one < three, "{s1}");
    assert!(s1.contains("| 1.88× |"), "{s1}");
    assert!(s1.contains("| 2.50× |"), "{s1}");
    assert!(
        md.contains(
            "| S1 with Redis: ≥ 15,000 statuses/s (one node) | 16,000/s, lost 0 | **met** |"
        ),
        "{md}"
    );
    // The 3-node row is a figure, not a verdict, even with a duplicate (shown in the figure).
    assert!(
        md.contains(
            "| S1 with Redis, 3 nodes (publishers and subscribers spread over them): statuses/s \
             | 12,000/s, lost 0, duplicates 1 | reported |"
        ),
        "{md}"
    );

    // Under the target, and results from before these rows existed.
    let mut slow = results();
    if let Some(Outcome::Ran(r)) = slow.runs.get_mut(&(Scenario::S1, Server::SwitchboardRedis)) {
        r.delivered_statuses_per_s = 14_000.0;
    }
    assert!(markdown(&slow).contains("| 14,000/s, lost 0 | **not met** |"));
    let mut older = results();
    for server in [
        Server::SwitchboardRedis,
        Server::SwitchboardRedis3,
        Server::SwitchboardRedisCluster,
        Server::SwitchboardRedisCluster3,
    ] {
        older.runs.remove(&(Scenario::S1, server));
    }
    older.redis_cpu_s.clear();
    let md = markdown(&older);
    let s1 = &md[md.find("## S1").unwrap()..md.find("## S2").unwrap()];
    assert!(!s1.contains("Redis"), "{s1}");
    assert!(md.contains("| S1 with Redis: ≥ 15,000 statuses/s (one node) | — | not run |"));
    assert!(md.contains("| S1 with Redis, 3 nodes: statuses/s | — | not run |"));
    assert!(md.contains("| S1 on a 3-shard Redis Cluster, 1 node: statuses/s | — | not run |"));
    assert!(md.contains("| S1 on a 3-shard Redis Cluster, 3 nodes: statuses/s | — | not run |"));
}

#[test]
fn redis_cluster_rows_in_s1_the_servers_and_the_targets() {
    let md = markdown(&results());
    // In S1's table, after the rows on one Redis: 30,000 ÷ 15,000 and ÷ 10,000.
    let s1 = &md[md.find("## S1").unwrap()..md.find("## S2").unwrap()];
    let redis3 = s1
        .find("| Switchboard on Redis (3 nodes) | `transport-ws` |")
        .unwrap();
    let one = s1
        .find("| Switchboard on a 3-shard Redis Cluster (1 node) | `transport-ws` |")
        .unwrap();
    let three = s1
        .find("| Switchboard on a 3-shard Redis Cluster (3 nodes) | `transport-ws` |")
        .unwrap();
    let graphql_ws = s1.find("| graphql-ws (Node) |").unwrap();
    assert!(redis3 < one && one < three && three < graphql_ws, "{s1}");
    assert!(s1.contains("| 2.00× | Redis CPU 7.0 s |"), "{s1}");
    // The Redis CPU comes first, then whatever else is unusual about the run.
    assert!(
        s1.contains("| 3.00× | Redis CPU 13.0 s; 2 publish errors (first: HTTP 500) |"),
        "{s1}"
    );
    assert!(s1.contains("| 1.88× | Redis CPU 4.3 s |"), "{s1}");
    // The 3-node row on one Redis recorded no Redis CPU: its notes stay empty.
    assert!(s1.contains("| 2.50× |  |"), "{s1}");
    // How the rows were run, and what the Redis CPU spans.
    let servers = &md[md.find("## Servers").unwrap()..md.find("## Method").unwrap()];
    assert!(
        servers.contains(
            "| Switchboard on a 3-shard Redis Cluster (1 node), S1 | the same with \
             `--redis-url redis+cluster://127.0.0.1:R1,127.0.0.1:R2,127.0.0.1:R3 --node-id bench-1`"
        ),
        "{servers}"
    );
    assert!(
        servers
            .contains("| Switchboard on a 3-shard Redis Cluster (3 nodes), S1 | three such nodes"),
        "{servers}"
    );
    assert!(
        md.contains("**Redis CPU** (Notes of the Redis rows)"),
        "{md}"
    );
    // Targets: figures without a target, even with loss (shown in the figure).
    assert!(
        md.contains(
            "| S1 on a 3-shard Redis Cluster, 1 node: statuses/s | 15,000/s, lost 0 | reported |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| S1 on a 3-shard Redis Cluster, 3 nodes (publishers and subscribers spread over \
             them): statuses/s | 10,000/s, lost 3, duplicates 0 | reported |"
        ),
        "{md}"
    );
    // Their rows follow the 3-node row on one Redis.
    let targets = &md[md.find("## Targets").unwrap()..];
    assert!(
        targets.find("S1 with Redis, 3 nodes").unwrap()
            < targets
                .find("S1 on a 3-shard Redis Cluster, 1 node")
                .unwrap()
    );

    // A cluster row that failed to start says why, without a Redis CPU.
    let mut failed = results();
    failed.runs.insert(
        (Scenario::S1, Server::SwitchboardRedisCluster),
        Outcome::Failed("the Redis Cluster was not ok within 30 s".into()),
    );
    failed
        .redis_cpu_s
        .remove(&(Scenario::S1, Server::SwitchboardRedisCluster));
    let md = markdown(&failed);
    assert!(
        md.contains("**failed**: the Redis Cluster was not ok within 30 s"),
        "{md}"
    );
    assert!(
        md.contains("| S1 on a 3-shard Redis Cluster, 1 node: statuses/s | — | not run |"),
        "{md}"
    );
}

#[test]
fn loss_fails_a_target() {
    let mut results = results();
    if let Some(Outcome::Ran(r)) = results.runs.get_mut(&(Scenario::S1, Server::Switchboard)) {
        r.lost = 1;
    }
    let md = markdown(&results);
    assert!(
        md.contains(
            "30,000/s, lost 1, duplicates 0 | **not met** (deliveries lost or duplicated) |"
        ),
        "{md}"
    );
}

#[test]
fn numbers() {
    assert_eq!(int(0.0), "0");
    assert_eq!(int(999.4), "999");
    assert_eq!(int(1000.0), "1,000");
    assert_eq!(int(1_234_567.8), "1,234,568");
    assert_eq!(ratio(3.0, 1.0), "3.00×");
    assert_eq!(ratio(250.0, 1.0), "250×");
    assert_eq!(ratio(1.0, 0.0), "∞ (none here)");
    assert_eq!(trim(10.0), "10");
    assert_eq!(trim(0.25), "0.25");
    assert_eq!(escape("a|b\nc"), "a\\|b c");
}
