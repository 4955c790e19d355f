//! The durations the settings take: `500ms`, `10s`, `5m`, `1h`, and the keep-alive's bounds.

use std::time::Duration;

/// A keep-alive interval: a duration of at most 60 s, and more than zero.
pub(super) fn parse_keepalive(text: &str) -> Result<Duration, String> {
    let every = parse_duration(text)?;
    if every.is_zero() || every > Duration::from_secs(60) {
        return Err(format!(
            "`{text}`: the keep-alive interval must be between 1ms and 60s (AppSync clients give up after 65 s of silence)"
        ));
    }
    Ok(every)
}

/// Parses `500ms`, `10s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s, 5m or 1h"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        other => Err(format!(
            "unknown duration unit `{other}` in `{text}` (use ms, s, m or h)"
        )),
    }
}
