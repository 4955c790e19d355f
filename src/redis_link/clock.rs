//! Redis's clock as this node reads it, so a command can carry a deadline in Redis's own time.
//!
//! A publish that times out here may still be queued in Redis (paused, swapped out, busy with
//! a long command) and run later. Its script checks the deadline against `TIME` and publishes
//! nothing once it has passed, which is what lets a timed-out publish be answered "not
//! published". The node's clock and Redis's need not agree: the offset between them is
//! measured (the sample with the shortest round trip of a few) and refreshed now and then.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::RedisResult;
use redis::aio::ConnectionLike;

/// Samples per measurement; the one with the shortest round trip is kept.
const SAMPLES: usize = 3;

/// How much of a command's timeout its deadline in Redis keeps back for the reply's way home
/// (and the offset's error): a script that runs before its deadline is answered before the
/// caller stops waiting.
pub const REPLY_ALLOWANCE: u32 = 4;

/// The offset from this node's clock to Redis's, in microseconds.
#[derive(Debug, Default)]
pub struct RedisClock {
    offset_us: AtomicI64,
}

impl RedisClock {
    /// Redis's time now, in microseconds since the Unix epoch, as estimated here.
    pub fn now_us(&self) -> u64 {
        local_us().saturating_add_signed(self.offset_us.load(Ordering::Relaxed))
    }

    /// The deadline, in Redis's microseconds, for a command the caller waits `timeout` for:
    /// a fourth of it earlier, so a reply from a command run just before it still arrives.
    pub fn deadline_us(&self, timeout: Duration) -> u64 {
        let budget = timeout - timeout / REPLY_ALLOWANCE;
        self.now_us() + budget.as_micros() as u64
    }

    /// Measures the offset again with `TIME`.
    pub async fn measure(&self, commands: &mut impl ConnectionLike) -> RedisResult<()> {
        let mut best: Option<(Duration, i64)> = None;
        for _ in 0..SAMPLES {
            let sent = Instant::now();
            let sent_us = local_us();
            let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(commands).await?;
            let round_trip = sent.elapsed();
            let redis_us = seconds * 1_000_000 + micros;
            // Redis read its clock about half way through the round trip.
            let midpoint = sent_us + round_trip.as_micros() as u64 / 2;
            let offset = redis_us as i64 - midpoint as i64;
            if best.is_none_or(|(shortest, _)| round_trip < shortest) {
                best = Some((round_trip, offset));
            }
        }
        if let Some((_, offset)) = best {
            self.offset_us.store(offset, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn local_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_keeps_a_fourth_of_the_timeout_for_the_reply() {
        let clock = RedisClock::default();
        let before = clock.now_us();
        let deadline = clock.deadline_us(Duration::from_millis(400));
        let after = clock.now_us();
        assert!(deadline >= before + 300_000 && deadline <= after + 300_000);
    }
}
