//! Per-client-address limits and the node's connection ceiling: how many HTTP connections and
//! WebSockets one address may hold open, how many connections the node holds in all, and how
//! many failed authentications an address may make per minute before its requests are refused
//! unchecked (so a client guessing keys or replaying bad tokens costs little, and cannot exhaust
//! the authorizer).
//!
//! "Address" is the client's: the TCP peer, or, behind a trusted proxy, the address the proxy
//! forwarded (see [`crate::net::proxies`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// Open connections of one kind per address, capped.
#[derive(Debug)]
struct SlotTable {
    max: usize,
    counts: DashMap<IpAddr, usize>,
}

impl SlotTable {
    fn new(max: usize) -> Self {
        Self {
            max,
            counts: DashMap::new(),
        }
    }

    fn take(&self, address: IpAddr) -> bool {
        let mut count = self.counts.entry(address).or_insert(0);
        if *count >= self.max {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, address: IpAddr) {
        if let Entry::Occupied(mut entry) = self.counts.entry(address) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

/// Why a new connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The address holds its maximum already (answered 429).
    Address,
    /// The node holds its maximum already (answered 503).
    Node,
}

#[derive(Debug)]
pub struct AddressLimits {
    /// WebSockets per address (`--max-connections-per-address`).
    websockets: SlotTable,
    /// Connections still speaking HTTP per address (`--max-http-connections-per-address`).
    http: SlotTable,
    /// Every connection the node holds (HTTP and WebSocket), capped at `max_open`.
    open: AtomicUsize,
    max_open: usize,
    max_failures: u32,
    /// The window failed authentications are counted in, and how long a lockout lasts.
    failure_window: Duration,
    /// Failures per address: the window's start and the count in it.
    failures: DashMap<IpAddr, (Instant, u32)>,
}

/// Which count a [`ConnectionSlot`] holds a place in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Http,
    WebSocket,
}

/// A place in the counts; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<AddressLimits>,
    /// `None` for a connection exempt from the per-address count (a trusted proxy's).
    address: Option<IpAddr>,
    kind: Kind,
}

/// The settings the limits are built from.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    pub websockets_per_address: usize,
    pub http_per_address: usize,
    pub connections: usize,
    pub auth_failures_per_window: u32,
    pub auth_failure_window: Duration,
}

impl AddressLimits {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            websockets: SlotTable::new(settings.websockets_per_address),
            http: SlotTable::new(settings.http_per_address),
            open: AtomicUsize::new(0),
            max_open: settings.connections,
            max_failures: settings.auth_failures_per_window,
            failure_window: settings.auth_failure_window,
            failures: DashMap::new(),
        }
    }

    /// Admits a new TCP connection from `address` (`None`: a trusted proxy, counted only
    /// against the node's ceiling), or says why not.
    pub fn admit(self: &Arc<Self>, address: Option<IpAddr>) -> Result<ConnectionSlot, Refused> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max_open {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Node);
        }
        if let Some(address) = address
            && !self.http.take(address)
        {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Address);
        }
        Ok(ConnectionSlot {
            limits: self.clone(),
            address,
            kind: Kind::Http,
        })
    }

    /// Takes a WebSocket slot for `address`, or `None` when it holds its maximum already.
    pub fn connect(self: &Arc<Self>, address: IpAddr) -> Option<ConnectionSlot> {
        if !self.websockets.take(address) {
            return None;
        }
        self.open.fetch_add(1, Ordering::AcqRel);
        Some(ConnectionSlot {
            limits: self.clone(),
            address: Some(address),
            kind: Kind::WebSocket,
        })
    }

    /// WebSockets open from `address`.
    pub fn connections(&self, address: IpAddr) -> usize {
        self.websockets.counts.get(&address).map_or(0, |c| *c)
    }

    /// Connections the node holds, HTTP and WebSocket.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// How long `address` stays locked out, when it has used up its failed authentications
    /// for this window.
    pub fn locked_out(&self, address: IpAddr) -> Option<Duration> {
        let entry = self.failures.get(&address)?;
        let elapsed = entry.0.elapsed();
        (elapsed < self.failure_window && entry.1 >= self.max_failures)
            .then(|| self.failure_window - elapsed)
    }

    /// Counts a failed authentication from `address`; returns how many it has made in this
    /// window and whether that locks it out.
    pub fn failed(&self, address: IpAddr) -> (u32, bool) {
        let now = Instant::now();
        let mut entry = self.failures.entry(address).or_insert((now, 0));
        if entry.0.elapsed() >= self.failure_window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        let count = entry.1;
        drop(entry);
        // Keep the table from growing with addresses that stopped failing long ago.
        if self.failures.len() > 100_000 {
            let window = self.failure_window;
            self.failures.retain(|_, entry| entry.0.elapsed() < window);
        }
        (count, count == self.max_failures)
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(address) = self.address {
            match self.kind {
                Kind::Http => self.limits.http.release(address),
                Kind::WebSocket => self.limits.websockets.release(address),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn limits(websockets: usize, http: usize, connections: usize) -> Arc<AddressLimits> {
        Arc::new(AddressLimits::new(LimitSettings {
            websockets_per_address: websockets,
            http_per_address: http,
            connections,
            auth_failures_per_window: 3,
            auth_failure_window: WINDOW,
        }))
    }

    #[test]
    fn slots_and_lockout() {
        let limits = limits(2, 10, 100);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let first = limits.connect(a).unwrap();
        let _second = limits.connect(a).unwrap();
        assert!(limits.connect(a).is_none());
        drop(first);
        assert!(limits.connect(a).is_some());
        for _ in 0..3 {
            assert!(limits.locked_out(a).is_none());
            limits.failed(a);
        }
        let left = limits.locked_out(a).unwrap();
        assert!(left <= WINDOW && left > WINDOW - Duration::from_secs(5));
        assert!(limits.locked_out("127.0.0.2".parse().unwrap()).is_none());
    }

    #[test]
    fn http_connections_per_address_and_in_all() {
        let limits = limits(10, 2, 3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let one = limits.admit(Some(a)).unwrap();
        let _two = limits.admit(Some(a)).unwrap();
        assert_eq!(limits.admit(Some(a)).unwrap_err(), Refused::Address);
        let _three = limits.admit(Some(b)).unwrap();
        assert_eq!(limits.admit(Some(b)).unwrap_err(), Refused::Node);
        assert_eq!(limits.admit(None).unwrap_err(), Refused::Node);
        drop(one);
        assert_eq!(limits.open(), 2);
        // A trusted proxy is not counted per address, only in all.
        let _proxied = limits.admit(None).unwrap();
        assert_eq!(limits.open(), 3);
    }
}
