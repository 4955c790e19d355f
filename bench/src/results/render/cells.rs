//! Formatting of single table cells and numbers.

use super::*;

pub(super) fn loss_text(r: &Report) -> String {
    match (r.lost, r.duplicates) {
        (0, 0) => ", lost 0".to_owned(),
        (lost, duplicates) => format!(", lost {lost}, duplicates {duplicates}"),
    }
}

pub(super) fn connections_cell(r: &Report) -> String {
    int(r.connections as f64)
}

pub(super) fn held_cell(r: &Report) -> String {
    format!(
        "{} / {}",
        int(r.connections as f64),
        int((r.connections + r.connect_failures) as f64)
    )
}

pub(super) fn cpu_cell(r: &Report) -> String {
    format!(
        "{} / {:.1}",
        opt(r.server_cpu_s, |s| format!("{s:.1}")),
        r.loadgen_cpu_s
    )
}

pub(super) fn latency_ms(r: &Report, us: u64) -> String {
    if r.latency_samples == 0 {
        return "—".to_owned();
    }
    let ms = us as f64 / 1000.0;
    match ms {
        m if m < 10.0 => format!("{m:.2}"),
        m if m < 100.0 => format!("{m:.1}"),
        m => int(m),
    }
}

pub(super) fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

pub(super) fn opt<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "—".to_owned(), show)
}

/// `a / b` as "3.42×", or "∞" / "n/a" when `b` is zero.
pub(super) fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        let r = a / b;
        match r {
            r if r >= 100.0 => format!("{r:.0}×"),
            r if r >= 10.0 => format!("{r:.1}×"),
            r => format!("{r:.2}×"),
        }
    } else if a > 0.0 {
        "∞ (none here)".to_owned()
    } else {
        "n/a".to_owned()
    }
}

/// A count or rate, rounded, with thousands separators.
pub(super) fn int(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{}", rounded.abs() as u64);
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if rounded < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// Seconds without trailing zeros: 10, 1.5, 0.25.
pub(super) fn trim(seconds: f64) -> String {
    let text = format!("{seconds:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub(super) fn cut(text: &str, max: usize) -> String {
    let mut cut: String = text.chars().take(max).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

/// A table cell: no pipes or line breaks.
pub(super) fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
