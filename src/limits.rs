//! Per-client-address limits: how many WebSockets one address may hold open, and how many failed
//! authentications it may make per minute before its requests are refused unchecked (so a client
//! guessing keys or replaying bad tokens costs little, and cannot exhaust the authorizer).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// The window failed authentications are counted in.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct AddressLimits {
    max_connections: usize,
    max_failures: u32,
    connections: DashMap<IpAddr, usize>,
    /// Failures per address: the window's start and the count in it.
    failures: DashMap<IpAddr, (Instant, u32)>,
}

/// A connection slot; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    limits: Arc<AddressLimits>,
    address: IpAddr,
}

impl AddressLimits {
    pub fn new(max_connections: usize, max_failures: u32) -> Self {
        Self {
            max_connections,
            max_failures,
            connections: DashMap::new(),
            failures: DashMap::new(),
        }
    }

    /// Takes a connection slot for `address`, or `None` when it holds its maximum already.
    pub fn connect(self: &Arc<Self>, address: IpAddr) -> Option<ConnectionSlot> {
        let mut count = self.connections.entry(address).or_insert(0);
        if *count >= self.max_connections {
            return None;
        }
        *count += 1;
        drop(count);
        Some(ConnectionSlot {
            limits: self.clone(),
            address,
        })
    }

    fn disconnect(&self, address: IpAddr) {
        if let Entry::Occupied(mut entry) = self.connections.entry(address) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }

    pub fn connections(&self, address: IpAddr) -> usize {
        self.connections.get(&address).map_or(0, |c| *c)
    }

    /// Whether `address` has used up its failed authentications for this minute.
    pub fn locked_out(&self, address: IpAddr) -> bool {
        self.failures
            .get(&address)
            .is_some_and(|entry| entry.0.elapsed() < FAILURE_WINDOW && entry.1 >= self.max_failures)
    }

    /// Counts a failed authentication from `address`.
    pub fn failed(&self, address: IpAddr) {
        let now = Instant::now();
        let mut entry = self.failures.entry(address).or_insert((now, 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        drop(entry);
        // Keep the table from growing with addresses that stopped failing long ago.
        if self.failures.len() > 100_000 {
            self.failures
                .retain(|_, entry| entry.0.elapsed() < FAILURE_WINDOW);
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.limits.disconnect(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_and_lockout() {
        let limits = Arc::new(AddressLimits::new(2, 3));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let first = limits.connect(a).unwrap();
        let _second = limits.connect(a).unwrap();
        assert!(limits.connect(a).is_none());
        drop(first);
        assert!(limits.connect(a).is_some());
        for _ in 0..3 {
            assert!(!limits.locked_out(a));
            limits.failed(a);
        }
        assert!(limits.locked_out(a));
        assert!(!limits.locked_out("127.0.0.2".parse().unwrap()));
    }
}
