//! The stable-Rust fuzz driver: what CI runs, as ordinary tests.
//!
//! For one target it runs every file of the committed seed corpus (`fuzz/corpus/<target>/`),
//! then mutations of those seeds ([`crate::mutate`]) until the time or iteration budget is spent.
//! The mutations are seeded, so a run is reproducible; each input runs under `catch_unwind`, and
//! the first one that panics is saved under `target/fuzz-failures/` and reported.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::panic;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mutatis::Session;

use crate::Target;
use crate::mutate::{Bytes, JsonTree, MAX_LEN};

/// Seconds per target when `SWITCHBOARD_FUZZ_SECONDS` is not set: enough for tens of thousands
/// of inputs per target in a debug build, little enough to keep CI quick.
pub const DEFAULT_SECONDS: f64 = 5.0;

/// The seed when `SWITCHBOARD_FUZZ_SEED` is not set: fixed, so CI runs the same inputs every
/// time (within the time budget) and a failure there is a failure here.
pub const DEFAULT_SEED: u64 = 0x5b0a_2d5e_ed00_f022;

/// How much fuzzing one target gets.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Mutated inputs stop after this long (the seeds always all run).
    pub time: Duration,
    /// And after this many mutated inputs, whichever comes first.
    pub iterations: u64,
    /// The seed of the mutations; each target mixes its own name in.
    pub seed: u64,
}

impl Budget {
    /// From `SWITCHBOARD_FUZZ_SECONDS` (default 5), `SWITCHBOARD_FUZZ_ITERATIONS` (default no
    /// cap) and `SWITCHBOARD_FUZZ_SEED` (default fixed; decimal or `0x` hex). A value that does
    /// not parse is a mistake worth stopping for, not a reason to fuzz with a default.
    pub fn from_env() -> Self {
        let seconds = env_number(
            "SWITCHBOARD_FUZZ_SECONDS",
            str::parse::<f64>,
            DEFAULT_SECONDS,
        );
        Self {
            time: Duration::try_from_secs_f64(seconds)
                .expect("SWITCHBOARD_FUZZ_SECONDS must be a non-negative number"),
            iterations: env_number("SWITCHBOARD_FUZZ_ITERATIONS", str::parse, u64::MAX),
            seed: env_number("SWITCHBOARD_FUZZ_SEED", parse_seed, DEFAULT_SEED),
        }
    }
}

/// Reads a numeric setting; panics (failing the test) on a value that does not parse.
fn env_number<T, E: fmt::Debug>(name: &str, parse: impl Fn(&str) -> Result<T, E>, default: T) -> T {
    match std::env::var(name) {
        Ok(text) => parse(text.trim()).unwrap_or_else(|e| panic!("{name}={text:?}: {e:?}")),
        Err(_) => default,
    }
}

/// A seed in decimal or `0x` hex.
fn parse_seed(text: &str) -> Result<u64, std::num::ParseIntError> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    }
}

/// What a run that found nothing did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Seed files run.
    pub seeds: usize,
    /// Inputs run in all, seeds included.
    pub executions: u64,
    /// Wall time, seeds included.
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    /// One line for the test output: how much was fuzzed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} inputs ({} seeds) in {:.1?}, no panic",
            self.executions, self.seeds, self.elapsed
        )
    }
}

/// An input that made a target panic: everything needed to reproduce it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The target's name.
    pub target: String,
    /// The input, byte for byte.
    pub input: Vec<u8>,
    /// The panic's message.
    pub message: String,
    /// Where the input was saved, when it could be.
    pub saved: Option<PathBuf>,
}

impl fmt::Display for Failure {
    /// The report a failing test prints: the panic, the input three ways, where it was saved.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fuzz target `{}` panicked: {}",
            self.target, self.message
        )?;
        writeln!(f, "input ({} bytes):", self.input.len())?;
        writeln!(f, "  text:   {:?}", String::from_utf8_lossy(&self.input))?;
        writeln!(f, "  hex:    {}", hex(&self.input))?;
        writeln!(f, "  base64: {}", STANDARD.encode(&self.input))?;
        match &self.saved {
            Some(path) => write!(
                f,
                "saved to {}; copy it into fuzz/corpus/{}/ to make it a regression seed",
                path.display(),
                self.target
            ),
            None => write!(f, "(could not be saved)"),
        }
    }
}

/// Lower-case hex, two digits a byte.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `fuzz/corpus/<target>/`.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The seed files of `target`, in file-name order so runs are reproducible. An empty or missing
/// corpus is an error: a target without seeds would only ever see noise.
pub fn load_corpus(target: &str) -> std::io::Result<Vec<Vec<u8>>> {
    let dir = corpus_dir(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.is_file());
    paths.sort();
    if paths.is_empty() {
        return Err(std::io::Error::other(format!(
            "{} has no seed files",
            dir.display()
        )));
    }
    paths.iter().map(std::fs::read).collect()
}

/// Where failing inputs go: `$CARGO_TARGET_DIR/fuzz-failures`, else the workspace's
/// `target/fuzz-failures`.
pub fn failures_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("fuzz-failures")
}

/// Runs `target` on `input`, turning a panic into a [`Failure`].
pub fn execute(name: &str, target: Target, input: &[u8]) -> Result<(), Failure> {
    panic::catch_unwind(|| target(input)).map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(a panic without a message)".to_owned());
        Failure {
            target: name.to_owned(),
            input: input.to_vec(),
            message,
            saved: save(name, input),
        }
    })
}

/// Saves a failing input as `<target>-<hash>.bin`; `None` if that fails (the report still has
/// the input in hex and base64).
fn save(target: &str, input: &[u8]) -> Option<PathBuf> {
    let dir = failures_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{target}-{:016x}.bin", hash(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// A stable hash (SipHash with fixed keys), for file names and per-target seeds.
fn hash(value: impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// Fuzzes one target: its seeds, then mutated seeds within `budget`. Stops at the first panic.
pub fn fuzz(name: &str, target: Target, budget: &Budget) -> Result<Summary, Failure> {
    let start = Instant::now();
    let seeds = load_corpus(name)
        .unwrap_or_else(|e| panic!("the seed corpus of `{name}` cannot be read: {e}"));
    for seed in &seeds {
        execute(name, target, seed)?;
    }
    let mut executions = seeds.len() as u64;
    let mut session = Session::new().seed(budget.seed ^ hash(name));
    let mut bytes = Bytes { seeds: &seeds };
    let mut mutated = 0;
    while mutated < budget.iterations && start.elapsed() < budget.time {
        let mut input = seeds[pick(&mut session, seeds.len())].clone();
        // Three inputs in four get only structure-aware moves while they are JSON, so they stay
        // JSON and reach the code behind the JSON parser; the rest get byte moves, which mostly
        // break the JSON and exercise the parsers' errors.
        let structured = pick(&mut session, 4) != 0;
        // Several moves at once, as libFuzzer stacks them: one change rarely gets far.
        for _ in 0..=pick(&mut session, 4) {
            let structured = structured && session.mutate_with(&mut JsonTree, &mut input).is_ok();
            if !structured {
                // Never exhausted: a byte can always be inserted.
                let _ = session.mutate_with(&mut bytes, &mut input);
            }
            input.truncate(MAX_LEN);
        }
        execute(name, target, &input)?;
        mutated += 1;
        executions += 1;
    }
    Ok(Summary {
        seeds: seeds.len(),
        executions,
        elapsed: start.elapsed(),
    })
}

/// A random index below `len` from the session's generator.
fn pick(session: &mut Session, len: usize) -> usize {
    session.generate::<usize>().unwrap_or(0) % len.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A target with a known bug, to see the driver catch it.
    fn panics_on_bang(data: &[u8]) {
        assert!(!data.contains(&b'!'), "found a bang");
    }

    #[test]
    fn a_panic_becomes_a_saved_failure() {
        let failure = execute("driver_self_test", panics_on_bang, b"a!b").unwrap_err();
        assert_eq!(failure.message, "found a bang");
        let saved = failure.saved.clone().expect("saved");
        assert_eq!(std::fs::read(&saved).unwrap(), b"a!b");
        let report = failure.to_string();
        assert!(
            report.contains("612162") && report.contains("YSFi"),
            "{report}"
        );
        std::fs::remove_file(saved).unwrap();
    }

    #[test]
    fn seeds() {
        assert_eq!(parse_seed("0x10"), Ok(16));
        assert_eq!(parse_seed("10"), Ok(10));
        assert!(parse_seed("ten").is_err());
    }
}
