//! A process's resident memory and CPU time, read from /proc, for the server (`--server-pid`,
//! summed over several when the server is several nodes) and for the generator itself: the
//! figures `ps` would show, sampled at the run's milestones.

use std::fs;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProcError {
    #[error("reading /proc/{pid}/{file}: {source}")]
    Read {
        pid: String,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("/proc/{pid}/{file} has no {what}")]
    Format {
        pid: String,
        file: &'static str,
        what: &'static str,
    },
}

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
    /// User plus system CPU time in seconds.
    pub cpu_s: f64,
}

/// Reads process `pid`, or this process when `None`.
pub fn sample(pid: Option<u32>) -> Result<Sample, ProcError> {
    let pid = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
    let read = |file: &'static str| {
        fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| ProcError::Read {
            pid: pid.clone(),
            file,
            source,
        })
    };
    let format = |file, what| ProcError::Format {
        pid: pid.clone(),
        file,
        what,
    };
    let rss_kib = parse_vm_rss(&read("status")?).ok_or_else(|| format("status", "VmRSS"))?;
    let ticks = parse_cpu_ticks(&read("stat")?).ok_or_else(|| format("stat", "utime/stime"))?;
    Ok(Sample {
        rss_kib,
        cpu_s: ticks as f64 / clock_ticks_per_second(),
    })
}

/// Reads every process of `pids` and sums them, so that a cluster's RSS per connection and CPU
/// per status are figures for the whole cluster; `None` when `pids` is empty (no server to read).
pub fn sample_sum(pids: &[u32]) -> Result<Option<Sample>, ProcError> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter()
        .map(|&pid| sample(Some(pid)))
        .sum::<Result<Sample, _>>()
        .map(Some)
}

impl std::iter::Sum for Sample {
    fn sum<I: Iterator<Item = Sample>>(samples: I) -> Self {
        samples.fold(
            Sample {
                rss_kib: 0,
                cpu_s: 0.0,
            },
            |total, s| Sample {
                rss_kib: total.rss_kib + s.rss_kib,
                cpu_s: total.cpu_s + s.cpu_s,
            },
        )
    }
}

/// `VmRSS:     1234 kB` → 1234.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime, fields 14 and 15 of /proc/PID/stat; counted after the `)` that ends the
/// command name, since the name itself may hold spaces and parentheses.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name, so utime (14) is the 12th from there.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tswitchboard\nVmPeak:\t  9000 kB\nVmRSS:\t   41236 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(41236));
        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn samples_this_process() {
        let me = sample(None).unwrap();
        assert!(me.rss_kib > 0);
        assert!(me.cpu_s >= 0.0);
    }

    #[test]
    fn sums_several_processes() {
        let nodes = [
            Sample {
                rss_kib: 40_000,
                cpu_s: 1.5,
            },
            Sample {
                rss_kib: 30_000,
                cpu_s: 0.25,
            },
            Sample {
                rss_kib: 2_000,
                cpu_s: 2.0,
            },
        ];
        let total: Sample = nodes.into_iter().sum();
        assert_eq!(
            total,
            Sample {
                rss_kib: 72_000,
                cpu_s: 3.75
            }
        );
        assert_eq!(sample_sum(&[]).unwrap(), None);
        // This process twice: each pid is read (its RSS may move a little in between).
        let me = std::process::id();
        let one = sample(Some(me)).unwrap();
        let twice = sample_sum(&[me, me]).unwrap().unwrap();
        assert!(twice.rss_kib > one.rss_kib, "{one:?} {twice:?}");
        assert!(twice.cpu_s >= one.cpu_s * 2.0);
        assert!(sample_sum(&[me, u32::MAX]).is_err());
    }
}
