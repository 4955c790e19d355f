//! Who the client is behind a reverse proxy.
//!
//! Every per-client limit (connections per address, the failed-authentication lockout) and every
//! log line keys on the client's address. Behind nginx or a load balancer the TCP peer is the
//! proxy, so all clients would share one budget; the proxy says who the client was in
//! `X-Forwarded-For` or `Forwarded`. Anyone can send those headers, so they are believed only
//! from peers in `--trusted-proxies`, and only as far as the chain stays trusted: the client is
//! the rightmost address that is not itself a trusted proxy.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose peers may say who the client is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self { nets }
    }

    /// Whether `address` is a trusted proxy.
    pub fn trusts(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.nets.iter().any(|net| net.contains(&address))
    }

    /// The client's address for a request from `peer`: the peer itself, unless it is a trusted
    /// proxy that forwarded one.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain = forwarded_for(headers);
        if chain.is_empty() {
            chain = forwarded(headers);
        }
        // Walk from the proxy towards the client; the first hop not trusted is the client.
        let mut client = peer;
        for hop in chain.into_iter().rev() {
            client = hop;
            if !self.trusts(hop) {
                break;
            }
        }
        client
    }
}

/// An IPv4 address mapped into IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports it) as
/// plain IPv4, so `10.0.0.0/8` matches it.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// `X-Forwarded-For: client, proxy1, proxy2` over every such header, in order; entries that
/// are not addresses (`unknown`, garbage) end the chain there, as nothing left of them can
/// be believed.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    believable_suffix(entries.map(|e| parse_node(e.trim())))
}

/// RFC 7239 `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`.
fn forwarded(headers: &HeaderMap) -> Vec<IpAddr> {
    let elements = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    let hops = elements.map(|element| {
        element.split(';').find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case("for")
                .then(|| parse_node(value.trim().trim_matches('"')))?
        })
    });
    believable_suffix(hops)
}

/// The hops after the last one that could not be read.
fn believable_suffix(hops: impl Iterator<Item = Option<IpAddr>>) -> Vec<IpAddr> {
    let mut chain = Vec::new();
    for hop in hops {
        match hop {
            Some(address) => chain.push(canonical(address)),
            None => chain.clear(),
        }
    }
    chain
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    if let Ok(address) = text.parse() {
        return Some(address);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// Parses one `--trusted-proxies` entry: a CIDR block or a single address.
pub fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or a CIDR block like 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            parse_net("10.0.0.0/8").unwrap(),
            parse_net("::1").unwrap(),
        ])
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(proxies().client(ip("10.1.2.3"), &xff), ip("203.0.113.7"));
        assert_eq!(
            proxies().client(ip("198.51.100.1"), &xff),
            ip("198.51.100.1")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &xff),
            ip("10.1.2.3")
        );
        let mapped = ip("::ffff:10.0.0.5");
        assert_eq!(proxies().client(mapped, &xff), ip("203.0.113.7"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client forged the first entry; the trusted chain ends at 203.0.113.7.
        let xff = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.7"),
            ("x-forwarded-for", "10.0.0.9"),
        ]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &xff), ip("203.0.113.7"));
        let garbage = headers(&[("x-forwarded-for", "1.1.1.1, nonsense, 10.0.0.9")]);
        assert_eq!(proxies().client(ip("10.0.0.1"), &garbage), ip("10.0.0.9"));
        let none = HeaderMap::new();
        assert_eq!(proxies().client(ip("10.0.0.1"), &none), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_header() {
        let forwarded = headers(&[(
            "forwarded",
            r#"for=192.0.2.60;proto=http, for="[2001:db8::1]:4711";by=10.0.0.1"#,
        )]);
        assert_eq!(
            proxies().client(ip("10.0.0.1"), &forwarded),
            ip("2001:db8::1")
        );
        let port = headers(&[("x-forwarded-for", "192.0.2.1:5000")]);
        assert_eq!(proxies().client(ip("::1"), &port), ip("192.0.2.1"));
        assert!(parse_net("nope").is_err());
        assert!(parse_net("10.0.0.0/33").is_err());
    }
}
