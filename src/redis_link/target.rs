//! Where `--redis-url` points: one Redis server, or a Redis Cluster named by seed nodes.
//!
//! - `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS): one server;
//! - `redis+cluster://[user:password@]host1:port1,host2:port2,…` (or `rediss+cluster://`): a
//!   Redis Cluster (7.0 or later); any reachable seed is enough, the rest of the cluster is
//!   learnt from it. The credentials apply to every node.
//!
//! Every connection speaks RESP3: pub/sub messages arrive as pushes on a connection that also
//! carries commands.

use redis::{ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

use super::RedisLinkError;

/// A parsed `--redis-url`.
#[derive(Debug, Clone)]
pub enum Target {
    Server(ConnectionInfo),
    /// The seed nodes of a cluster.
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, RedisLinkError> {
        let cluster = [
            ("redis+cluster://", "redis://"),
            ("rediss+cluster://", "rediss://"),
        ]
        .into_iter()
        .find_map(|(scheme, plain)| url.strip_prefix(scheme).map(|rest| (plain, rest)));
        let Some((scheme, rest)) = cluster else {
            return Ok(Self::Server(resp3(url)?));
        };
        // `[credentials@]seeds[/tail]`: the authority ends at the first `/` or `?`, and the
        // credentials at its last `@` (a password may hold one, the tail may too).
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (credentials, seeds) = match authority.rsplit_once('@') {
            Some((credentials, seeds)) => (format!("{credentials}@"), seeds),
            None => (String::new(), authority),
        };
        let seeds = seeds
            .split(',')
            .map(str::trim)
            .filter(|seed| !seed.is_empty())
            .map(|seed| resp3(&format!("{scheme}{credentials}{seed}{tail}")))
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(RedisLinkError::Url(format!(
                "`{url}` names no cluster node (redis+cluster://host:port,host:port)"
            )));
        }
        Ok(Self::Cluster(seeds))
    }
}

fn resp3(url: &str) -> Result<ConnectionInfo, RedisLinkError> {
    let info = url
        .into_connection_info()
        .map_err(|e| RedisLinkError::Url(e.to_string()))?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(info: &ConnectionInfo) -> String {
        info.addr().to_string()
    }

    #[test]
    fn one_server_or_a_cluster_by_its_seeds() {
        assert!(matches!(
            Target::parse("redis://127.0.0.1:6379").unwrap(),
            Target::Server(_)
        ));
        let Target::Cluster(seeds) =
            Target::parse("redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001/?protocol=2")
                .unwrap()
        else {
            panic!("a cluster");
        };
        let addrs: Vec<String> = seeds.iter().map(addr).collect();
        assert_eq!(addrs, ["10.0.0.1:7000", "10.0.0.2:7001"]);
        for seed in &seeds {
            assert_eq!(seed.redis_settings().password(), Some("secret"));
            // RESP3 whatever the URL asked: pushes need it.
            assert_eq!(seed.redis_settings().protocol(), ProtocolVersion::RESP3);
        }
    }

    #[test]
    fn an_at_sign_after_the_seeds_is_not_a_credential() {
        let Target::Cluster(seeds) = Target::parse("redis+cluster://h1:7000,h2:7001/?user=a@b")
            .unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("a cluster");
        };
        let addrs: Vec<String> = seeds.iter().map(addr).collect();
        assert_eq!(addrs, ["h1:7000", "h2:7001"]);
    }

    #[test]
    fn bad_urls_say_why() {
        for url in [
            "redis+cluster://",
            "redis+cluster://,",
            "http://x",
            "redis+cluster://h:notaport",
        ] {
            let error = Target::parse(url).expect_err(url);
            assert!(matches!(error, RedisLinkError::Url(_)), "{url}: {error}");
        }
    }
}
