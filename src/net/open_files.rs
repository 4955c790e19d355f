//! The open-file limit, which caps how many connections one process can hold.
//!
//! Linux starts processes with a low soft limit (often 1024) under a higher hard limit; a server
//! that does not raise it refuses connections long before memory or CPU run out.

/// File descriptors kept back for listeners, Redis, logs and the like.
const RESERVED: u64 = 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns how many connections that
/// allows (the limit minus a reserve). Logged at start-up so operators see the ceiling.
pub fn raise_to_hard_limit() -> std::io::Result<u64> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok(limit.saturating_sub(RESERVED))
}

/// How many connections the current soft open-file limit allows (the limit minus a reserve):
/// the default ceiling on connections, so the node refuses the next one with a 503 rather than
/// failing to accept it.
pub fn connection_ceiling() -> usize {
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    usize::try_from(soft.saturating_sub(RESERVED)).unwrap_or(usize::MAX)
}
