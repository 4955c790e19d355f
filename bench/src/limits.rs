//! File-descriptor headroom: every connection is a socket, so the soft RLIMIT_NOFILE (often
//! 1024) must be raised to the hard limit before opening thousands of them.

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the resulting soft limit.
pub fn raise_nofile() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(limit.rlim_cur)
}

/// Descriptors kept free for the runtime, publishers' HTTP connections and /proc reads.
pub const RESERVED_FDS: u64 = 100;
