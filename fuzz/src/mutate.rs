//! The stable driver's mutations, written as [`mutatis`] mutators.
//!
//! Without coverage feedback (that needs an instrumented build, see `fuzz/README.md`) the
//! driver's best chance of reaching deep code is to start every input from a real one and change
//! it a little. Two mutators do that:
//!
//! - [`Bytes`]: libFuzzer's classic moves: change, insert, erase or copy bytes, insert words the
//!   protocols give meaning to, splice in a piece of another seed. These find what a tokenizer
//!   gets wrong.
//! - [`JsonTree`]: when the input is JSON, changes one node of the parsed tree and writes it back,
//!   so the result is still JSON and the decoder gets past `serde_json` into our own code. Strings
//!   that hold JSON themselves (AppSync's `payload.data`) are mutated as JSON too.
//!
//! `mutatis` enumerates every candidate mutation and applies one chosen at random; a group of
//! `n` candidates is `n` times as likely, which is how these mutators weigh their moves.

use mutatis::mutators as m;
use mutatis::{Candidates, Context, Mutate, Result};
use serde_json::Value as Json;

/// Words the parsers under test give meaning to. Inserting whole words reaches branches that
/// byte-at-a-time changes would almost never spell out.
pub const DICTIONARY: &[&str] = &[
    // Frames of the three WebSocket protocols.
    "\"type\"",
    "\"id\"",
    "\"payload\"",
    "connection_init",
    "connection_terminate",
    "subscribe",
    "start",
    "stop",
    "complete",
    "ping",
    "pong",
    "ka",
    "\"data\"",
    "\"extensions\"",
    "\"authorization\"",
    "\"headers\"",
    "\"query\"",
    "\"variables\"",
    "\"operationName\"",
    // Header-style credentials.
    "host",
    "x-api-key",
    "apiKey",
    "Authorization",
    "x-amz-date",
    "x-amz-security-token",
    "Bearer ",
    "header-",
    "header=",
    "&payload=e30=",
    // SigV4.
    "AWS4-HMAC-SHA256 ",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "/aws4_request",
    "/appsync/",
    "AKIDEXAMPLE",
    "20250115T123456Z",
    ", ",
    ";",
    // JWT headers.
    "\"alg\"",
    "\"kid\"",
    "\"crit\"",
    "RS256",
    "ES256",
    "HS256",
    "none",
    "eyJ",
    // GraphQL.
    "subscription ",
    "query ",
    "mutation ",
    "fragment F on Status ",
    "...F",
    "... on Status ",
    "onStatusUpdate",
    "statusHistory",
    "publishStatus",
    "userId",
    "$userId",
    "(userId: $userId)",
    "@include(if: true)",
    "@skip(if: $b)",
    "__typename",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\\"",
    "\\u0000",
    "\\ud800",
    "%",
    "%2B",
    "=",
    "+",
    "/",
    "-",
    "_",
    "null",
    "true",
    "-0",
    "1e400",
    "18446744073709551616",
    "9007199254740993",
    "é",
    "\u{2028}",
];

/// Inputs never grow past this: longer ones only slow the driver down, and every parser under
/// test caps or rejects long input well before it.
pub const MAX_LEN: usize = 16 * 1024;

/// How often one of this module's own moves is chosen compared with one of `mutatis`' per-byte
/// ones: about as often as all of those together.
fn weight(len: usize) -> u32 {
    u32::try_from(len / 4).unwrap_or(u32::MAX).max(1)
}

/// A random position in `0..=len`.
fn position(ctx: &mut Context, len: usize) -> usize {
    ctx.rng().gen_index(len + 1).unwrap_or(0)
}

/// A random range of at most `max` bytes inside `0..len`.
fn range(ctx: &mut Context, len: usize, max: usize) -> std::ops::Range<usize> {
    let start = position(ctx, len);
    let end = start + position(ctx, (len - start).min(max));
    start..end
}

/// A random dictionary word.
fn word(ctx: &mut Context) -> &'static str {
    DICTIONARY[ctx.rng().gen_index(DICTIONARY.len()).unwrap_or(0)]
}

/// Byte-level moves over any input; `seeds` are spliced from.
pub struct Bytes<'a> {
    /// The seed corpus of the target being fuzzed.
    pub seeds: &'a [Vec<u8>],
}

impl Mutate<Vec<u8>> for Bytes<'_> {
    /// Registers the byte-level moves, weighted so that `mutatis`' per-byte moves and these
    /// whole-word and whole-range ones are about equally likely.
    fn mutate(&mut self, c: &mut Candidates<'_>, value: &mut Vec<u8>) -> Result<()> {
        let weight = weight(value.len());
        // One byte at a time: `mutatis`' own moves for a `Vec<u8>` (insert, remove, swap, or
        // change any one byte).
        m::default::<Vec<u8>>().mutate(c, value)?;
        if !value.is_empty() {
            c.mutation_group(weight, |ctx, _| {
                let cut = range(ctx, value.len(), 64);
                value.drain(cut);
                Ok(())
            })?;
        }
        if c.shrink() {
            return Ok(());
        }
        c.mutation_group(weight, |ctx, _| {
            let at = position(ctx, value.len());
            value.splice(at..at, word(ctx).bytes());
            Ok(())
        })?;
        c.mutation_group(weight, |ctx, _| {
            let replaced = range(ctx, value.len(), 8);
            value.splice(replaced, word(ctx).bytes());
            Ok(())
        })?;
        if !value.is_empty() {
            // Repeats a piece of the input: duplicated fields, nested brackets, doubled escapes.
            c.mutation_group(weight, |ctx, _| {
                let piece = range(ctx, value.len(), 256);
                let copy = value[piece].to_vec();
                let at = position(ctx, value.len());
                value.splice(at..at, copy);
                Ok(())
            })?;
        }
        if !self.seeds.is_empty() {
            // Splices a piece of another seed in, as libFuzzer's crossover does.
            c.mutation_group(weight, |ctx, _| {
                let other = &self.seeds[ctx.rng().gen_index(self.seeds.len()).unwrap_or(0)];
                let piece = range(ctx, other.len(), 256);
                let replaced = range(ctx, value.len(), 256);
                value.splice(replaced, other[piece].iter().copied());
                Ok(())
            })?;
        }
        Ok(())
    }

    /// The number of candidates [`Bytes::mutate`] registers, so `mutatis` can skip its counting
    /// pass (the driver's hottest loop in a debug build). Must match `mutate` exactly.
    fn mutation_count(&self, value: &Vec<u8>, shrink: bool) -> Option<u32> {
        let weight = weight(value.len());
        let mut count = m::default::<Vec<u8>>().mutation_count(value, shrink)?;
        let mut add = |present: bool| {
            if present {
                count = count.saturating_add(weight);
            }
        };
        add(!value.is_empty());
        if !shrink {
            add(true);
            add(true);
            add(!value.is_empty());
            add(!self.seeds.is_empty());
        }
        Some(count)
    }
}

/// Values worth trying anywhere a JSON value goes: wrong types, edge numbers, long and odd
/// strings, deep nesting past `serde_json`'s recursion limit.
fn interesting(which: u32) -> Json {
    use serde_json::json;
    match which {
        0 => Json::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(u64::MAX),
        5 => json!(i64::MIN),
        6 => json!(1.5e300),
        7 => json!(-0.0),
        8 => json!(""),
        9 => json!("{}"),
        10 => json!("\u{0}\u{2028}\u{ffff}é"),
        11 => json!("a".repeat(4096)),
        12 => json!([]),
        13 => json!({}),
        14 => json!({"query": "subscription { onStatusUpdate(userId: \"u1\") { status } }"}),
        _ => (0..200).fold(Json::Null, |inner, _| Json::Array(vec![inner])),
    }
}

/// How many values [`interesting`] has.
const INTERESTING: u32 = 16;

/// Structure-aware moves over inputs that are JSON; none (so `mutatis` reports the mutator
/// exhausted) for anything else.
pub struct JsonTree;

impl Mutate<Vec<u8>> for JsonTree {
    /// Parses the input, registers the moves on every node of the tree, and serializes the tree
    /// again once one of them has been applied.
    fn mutate(&mut self, c: &mut Candidates<'_>, value: &mut Vec<u8>) -> Result<()> {
        let Ok(mut tree) = serde_json::from_slice::<Json>(value) else {
            return Ok(());
        };
        let outcome = node(c, &mut tree);
        // `mutatis` stops the walk with an error once the chosen move has been applied: that is
        // when the changed tree replaces the input.
        if outcome.is_err() {
            *value = tree.to_string().into_bytes();
        }
        outcome
    }
}

/// Registers the moves on `value` and, recursively, on everything inside it.
fn node(c: &mut Candidates<'_>, value: &mut Json) -> Result<()> {
    if !c.shrink() {
        c.mutation(|ctx| {
            *value = interesting(ctx.rng().gen_u32() % INTERESTING);
            Ok(())
        })?;
    }
    match value {
        Json::Null => {}
        Json::Bool(b) => m::default::<bool>().mutate(c, b)?,
        Json::Number(n) => {
            let mut number = n.as_i64().unwrap_or_default();
            let outcome = m::default::<i64>().mutate(c, &mut number);
            if outcome.is_err() {
                *value = number.into();
            }
            outcome?;
        }
        Json::String(text) => string(c, text)?,
        Json::Array(items) => {
            if !items.is_empty() {
                c.mutation(|ctx| {
                    let at = ctx.rng().gen_index(items.len()).unwrap_or(0);
                    items.remove(at);
                    Ok(())
                })?;
                if !c.shrink() {
                    c.mutation(|ctx| {
                        let at = ctx.rng().gen_index(items.len()).unwrap_or(0);
                        items.insert(at, items[at].clone());
                        Ok(())
                    })?;
                }
            }
            for item in items {
                node(c, item)?;
            }
        }
        Json::Object(fields) => {
            let names: Vec<String> = fields.keys().cloned().collect();
            if !names.is_empty() {
                c.mutation_group(len32(&names), |_, i| {
                    fields.remove(&names[i as usize]);
                    Ok(())
                })?;
                // A known name in place of another: `type` where `id` was, and so on.
                c.mutation_group(len32(&names), |ctx, i| {
                    if let Some(moved) = fields.remove(&names[i as usize]) {
                        fields.insert(unquoted(word(ctx)), moved);
                    }
                    Ok(())
                })?;
            }
            if !c.shrink() {
                c.mutation(|ctx| {
                    let which = ctx.rng().gen_u32() % INTERESTING;
                    fields.insert(unquoted(word(ctx)), interesting(which));
                    Ok(())
                })?;
            }
            for item in fields.values_mut() {
                node(c, item)?;
            }
        }
    }
    Ok(())
}

/// Moves on a string: as JSON when it holds a JSON object or array, then character by
/// character (`mutatis`' own moves), then a dictionary word in place of it or inside it.
fn string(c: &mut Candidates<'_>, text: &mut String) -> Result<()> {
    if text.trim_start().starts_with(['{', '['])
        && let Ok(mut inner) = serde_json::from_str::<Json>(text)
    {
        let outcome = node(c, &mut inner);
        if outcome.is_err() {
            *text = inner.to_string();
        }
        outcome?;
    }
    m::default::<String>().mutate(c, text)?;
    if !c.shrink() {
        c.mutation(|ctx| {
            *text = unquoted(word(ctx));
            Ok(())
        })?;
        c.mutation(|ctx| {
            let mut at = position(ctx, text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.insert_str(at, &unquoted(word(ctx)));
            Ok(())
        })?;
    }
    Ok(())
}

/// A dictionary word as a JSON string's content (without its quotes).
fn unquoted(word: &str) -> String {
    word.trim_matches('"').to_owned()
}

/// A collection's length as a `mutatis` group size.
fn len32<T>(items: &[T]) -> u32 {
    u32::try_from(items.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mutatis::Session;

    #[test]
    fn json_moves_keep_json_and_byte_moves_change_the_input() {
        let seed = br#"{"type":"start","id":"1","payload":{"data":"{\"query\":\"{ a }\"}"}}"#;
        let seeds = vec![seed.to_vec()];
        let mut session = Session::new().seed(7);
        let mut changed = 0;
        for _ in 0..200 {
            let mut input = seed.to_vec();
            session.mutate_with(&mut JsonTree, &mut input).unwrap();
            // Still JSON, though perhaps nested deeper than `serde_json` reads by default.
            if let Err(e) = serde_json::from_slice::<Json>(&input) {
                assert!(e.to_string().contains("recursion limit"), "{e}");
            }
            let mut bytes = seed.to_vec();
            session
                .mutate_with(&mut Bytes { seeds: &seeds }, &mut bytes)
                .unwrap();
            changed += usize::from(input != seed.as_slice()) + usize::from(bytes != seed);
        }
        assert!(
            changed > 300,
            "only {changed} of 400 mutations changed anything"
        );
    }

    #[test]
    fn not_json_has_no_json_moves() {
        let mut input = b"not json".to_vec();
        assert!(
            mutatis::Session::new()
                .mutate_with(&mut JsonTree, &mut input)
                .is_err()
        );
    }
}
