//! Where `--redis-url` points: one Redis server, or a Redis Cluster named by seed nodes.
//!
//! - `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS): one server;
//! - `redis+cluster://[user:password@]host1:port1,host2:port2,…` (or `rediss+cluster://`): a
//!   Redis Cluster (7.0 or later); any reachable seed is enough, the rest of the cluster is
//!   learnt from it. The credentials apply to every node.
//! - `redis+sentinel://[user:password@]host1:port1,host2:port2,…/<master>[/<db>]` (or
//!   `rediss+sentinel://`): a master and its replicas watched by Redis Sentinel, named by the
//!   sentinels' addresses and the master's name as Sentinel knows it. The credentials and the
//!   database are the master's; a sentinel with a password of its own takes it as
//!   `?sentinel_username=…&sentinel_password=…`.
//!
//! Every connection speaks RESP3: pub/sub messages arrive as pushes on a connection that also
//! carries commands.

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, ProtocolVersion};

use super::RedisLinkError;

/// A parsed `--redis-url`.
#[derive(Debug, Clone)]
pub enum Target {
    Server(ConnectionInfo),
    /// The seed nodes of a cluster.
    Cluster(Vec<ConnectionInfo>),
    Sentinel(SentinelTarget),
}

/// A master found through Redis Sentinel.
#[derive(Debug, Clone)]
pub struct SentinelTarget {
    /// Where the sentinels listen, with their own credentials.
    pub sentinels: Vec<ConnectionInfo>,
    /// The master's name in the sentinels' configuration (`sentinel monitor <name> …`).
    pub master: String,
    /// How to talk to whichever server is the master: credentials, database, TLS, RESP3. Its
    /// address is a placeholder until a sentinel names one ([`SentinelTarget::at`]).
    pub node: ConnectionInfo,
}

impl SentinelTarget {
    /// The master's connection settings at `host:port`, as a sentinel named it.
    pub fn at(&self, host: String, port: u16) -> ConnectionInfo {
        let addr = match self.node.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host, port),
        };
        self.node.clone().set_addr(addr)
    }
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, RedisLinkError> {
        let sentinel = [
            ("redis+sentinel://", "redis://"),
            ("rediss+sentinel://", "rediss://"),
        ]
        .into_iter()
        .find_map(|(scheme, plain)| url.strip_prefix(scheme).map(|rest| (plain, rest)));
        if let Some((scheme, rest)) = sentinel {
            return sentinel_target(url, scheme, rest).map(Self::Sentinel);
        }
        let cluster = [
            ("redis+cluster://", "redis://"),
            ("rediss+cluster://", "rediss://"),
        ]
        .into_iter()
        .find_map(|(scheme, plain)| url.strip_prefix(scheme).map(|rest| (plain, rest)));
        let Some((scheme, rest)) = cluster else {
            return Ok(Self::Server(resp3(url)?));
        };
        let (credentials, seeds, tail) = split_hosts(rest);
        let seeds = seeds
            .into_iter()
            .map(|seed| resp3(&format!("{scheme}{credentials}{seed}{tail}")))
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(RedisLinkError::Url(format!(
                "`{}` names no cluster node (redis+cluster://host:port,host:port)",
                redacted(url)
            )));
        }
        Ok(Self::Cluster(seeds))
    }
}

/// `[credentials@]host,host[/tail]` as (`credentials@` or nothing, the hosts, the tail): the
/// authority ends at the first `/` or `?`, and the credentials at its last `@` (a password may
/// hold one, the tail may too).
fn split_hosts(rest: &str) -> (String, Vec<&str>, &str) {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), authority),
    };
    let hosts = hosts
        .split(',')
        .map(str::trim)
        .filter(|host| !host.is_empty())
        .collect();
    (credentials, hosts, tail)
}

/// `redis+sentinel://[credentials@]sentinels/<master>[/<db>][?query]`, `scheme` the plain one
/// (`redis://` or `rediss://`) and `rest` what follows the `+sentinel` one.
fn sentinel_target(url: &str, scheme: &str, rest: &str) -> Result<SentinelTarget, RedisLinkError> {
    let usage = || {
        RedisLinkError::Url(format!(
            "`{}` is not redis+sentinel://[user:password@]host:port,host:port/<master>[/<db>]",
            redacted(url)
        ))
    };
    let (credentials, hosts, tail) = split_hosts(rest);
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut segments = path.trim_start_matches('/').split('/');
    let master = segments
        .next()
        .filter(|m| !m.is_empty())
        .ok_or_else(usage)?;
    let db = segments.next().filter(|db| !db.is_empty());
    if segments.next().is_some() || hosts.is_empty() {
        return Err(usage());
    }
    // The sentinels' own credentials come from the query; the rest of it is the master's.
    let (mut sentinel_user, mut sentinel_password, mut node_query) = (None, None, Vec::new());
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=') {
            Some(("sentinel_username", user)) => sentinel_user = Some(user),
            Some(("sentinel_password", password)) => sentinel_password = Some(password),
            _ => node_query.push(pair),
        }
    }
    let sentinel_credentials = match (sentinel_user, sentinel_password) {
        (None, None) => String::new(),
        (user, password) => format!(
            "{}{}@",
            user.unwrap_or_default(),
            password.map(|p| format!(":{p}")).unwrap_or_default()
        ),
    };
    let sentinels = hosts
        .iter()
        .map(|host| {
            // Sentinel's own port, not Redis's, when none is given.
            let port = if host.ends_with(']') || !host.contains(':') {
                ":26379"
            } else {
                ""
            };
            resp3(&format!("{scheme}{sentinel_credentials}{host}{port}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let node_query = if node_query.is_empty() {
        String::new()
    } else {
        format!("?{}", node_query.join("&"))
    };
    let db = db.map(|db| format!("/{db}")).unwrap_or_default();
    let node = resp3(&format!(
        "{scheme}{credentials}{}{db}{node_query}",
        hosts[0]
    ))?;
    Ok(SentinelTarget {
        sentinels,
        master: master.to_owned(),
        node,
    })
}

/// The URL forms `--redis-url` takes, for an error that refuses one.
pub(super) const FORMS: &str = "use redis://[user:password@]host:port[/db] (rediss:// for TLS), \
    redis+cluster://host:port,host:port or redis+sentinel://host:port,host:port/<master>";

/// `url` without its credentials and query (which may hold a password), for an error message.
pub fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (credentials, hosts, tail) = split_hosts(rest);
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    let hidden = if credentials.is_empty() { "" } else { "***@" };
    format!("{scheme}://{hidden}{}{path}", hosts.join(","))
}

fn resp3(url: &str) -> Result<ConnectionInfo, RedisLinkError> {
    let info = url
        .into_connection_info()
        .map_err(|_| RedisLinkError::Url(format!("`{}` did not parse; {FORMS}", redacted(url))))?;
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
    fn a_sentinel_target_names_its_sentinels_master_and_database() {
        let url = "redis+sentinel://:secret@10.0.0.1:26379,10.0.0.2:26380/jobs/2\
                   ?sentinel_password=guard";
        let Target::Sentinel(target) = Target::parse(url).unwrap_or_else(|e| panic!("{e}")) else {
            panic!("a sentinel target");
        };
        assert_eq!(target.master, "jobs");
        let addrs: Vec<String> = target.sentinels.iter().map(addr).collect();
        assert_eq!(addrs, ["10.0.0.1:26379", "10.0.0.2:26380"]);
        for sentinel in &target.sentinels {
            // The sentinels' password, not the master's; and no database (Sentinel has none).
            assert_eq!(sentinel.redis_settings().password(), Some("guard"));
            assert_eq!(sentinel.redis_settings().db(), 0);
        }
        let master = target.at("10.0.0.9".into(), 6380);
        assert_eq!(addr(&master), "10.0.0.9:6380");
        assert_eq!(master.redis_settings().password(), Some("secret"));
        assert_eq!(master.redis_settings().db(), 2);
        assert_eq!(master.redis_settings().protocol(), ProtocolVersion::RESP3);

        let Target::Sentinel(open) = Target::parse("redis+sentinel://h:26379/m").unwrap() else {
            panic!("a sentinel target");
        };
        assert_eq!(open.sentinels[0].redis_settings().password(), None);
        assert_eq!(open.node.redis_settings().password(), None);
    }

    #[test]
    fn a_sentinel_without_a_port_is_on_sentinels_port() {
        let Target::Sentinel(target) =
            Target::parse("redis+sentinel://s1,s2:5000,[::1]/m").unwrap_or_else(|e| panic!("{e}"))
        else {
            panic!("a sentinel target");
        };
        let addrs: Vec<String> = target.sentinels.iter().map(addr).collect();
        assert_eq!(addrs, ["s1:26379", "s2:5000", "::1:26379"]);
    }

    #[test]
    fn errors_do_not_repeat_passwords() {
        for url in [
            "redis+sentinel://user:hunter2@h:26379",
            "redis+sentinel://h:26379/?sentinel_password=hunter2",
            "redis+cluster://:hunter2@",
        ] {
            let error = Target::parse(url).expect_err(url).to_string();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn bad_urls_say_why() {
        for url in [
            "redis+cluster://",
            "redis+cluster://,",
            "http://x",
            "redis+cluster://h:notaport",
            "redis+sentinel://h:26379",
            "redis+sentinel://h:26379/",
            "redis+sentinel:///master",
            "redis+sentinel://h:26379/master/0/extra",
        ] {
            let error = Target::parse(url).expect_err(url);
            assert!(matches!(error, RedisLinkError::Url(_)), "{url}: {error}");
        }
    }
}
