//! AppSync's enhanced subscription filters: an OR of groups, each an AND of rules on fields of
//! the published result (dotted paths), with AppSync's operators, limits and error texts.
//!
//! A filter comes from a subscription's `filter` argument: an Amplify model-subscription input
//! (`{priority: {gt: 3}, and: [...], or: [...]}`, translated as AppSync's
//! `util.transform.toSubscriptionFilter` does, see [`amplify`]) or AppSync's own `filterGroup`
//! JSON (see [`group`]). It is checked once, when the subscription starts ([`group::check`]), and
//! evaluated on each event of the subscription's topic only (`pubsub::index`).
//!
//! Semantics, where AppSync's documentation is silent, as chosen here: a rule on a field the
//! result does not have is false, negative operators included; numbers compare as numbers
//! (`1 == 1.0`), never with strings; strings compare case-sensitively, by Unicode code points;
//! enum values compare as their names; a path through `null`, a list or a scalar is false;
//! `between` is exclusive (AppSync's example: `[1, 5]` matches 2, 3, 4).

pub mod amplify;
pub mod group;

use std::cmp::Ordering;

use async_graphql::Value;
use serde_json::Value as Json;

/// A checked filter: true when any group has all its rules true.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    groups: Vec<Vec<Rule>>,
}

/// One condition on one field of the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The field's path (`location.address.country` → three names).
    pub path: Vec<String>,
    pub op: Op,
}

/// AppSync's operators, each with its operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Eq(Json),
    Ne(Json),
    Le(Json),
    Lt(Json),
    Ge(Json),
    Gt(Json),
    Contains(Json),
    NotContains(Json),
    BeginsWith(String),
    In(Vec<Json>),
    NotIn(Vec<Json>),
    Between(Json, Json),
    ContainsAny(Vec<Json>),
    /// Only reachable through Amplify's `ModelStringInput`: the field is present and not null.
    AttributeExists(bool),
}

impl Filter {
    /// A filter of these groups, as checked by [`group::check`].
    pub(crate) fn new(groups: Vec<Vec<Rule>>) -> Self {
        Self { groups }
    }

    pub fn groups(&self) -> &[Vec<Rule>] {
        &self.groups
    }

    /// A top-level field that every group requires to equal the same string: an event can pass
    /// only if its field has that value, so the index can file the filter under it and never
    /// evaluate it for events with another. The first such field by name.
    pub fn common_eq(&self) -> Option<(&str, &str)> {
        let first = self.groups.first()?;
        let mut candidates: Vec<(&str, &str)> = first
            .iter()
            .filter_map(|rule| match (&rule.path[..], &rule.op) {
                ([name], Op::Eq(Json::String(value))) => Some((name.as_str(), value.as_str())),
                _ => None,
            })
            .collect();
        candidates.sort_unstable();
        candidates.into_iter().find(|(name, value)| {
            self.groups.iter().all(|group| {
                group.iter().any(|rule| {
                    matches!((&rule.path[..], &rule.op), ([n], Op::Eq(Json::String(v))) if n == name && v == value)
                })
            })
        })
    }

    /// Whether the published result `payload` passes.
    pub fn matches(&self, payload: &Value) -> bool {
        self.groups
            .iter()
            .any(|group| group.iter().all(|rule| rule.matches(payload)))
    }
}

impl Rule {
    fn matches(&self, payload: &Value) -> bool {
        // AppSync ignores what is deeper, so such a rule cannot hold.
        if self.path.len() > group::MAX_DEPTH {
            return false;
        }
        let Some(field) = lookup(payload, &self.path) else {
            // Absent: every rule is false, the negative ones too.
            return false;
        };
        match &self.op {
            Op::Eq(operand) => equal(field, operand),
            Op::Ne(operand) => !equal(field, operand),
            Op::Le(operand) => compare(field, operand).is_some_and(Ordering::is_le),
            Op::Lt(operand) => compare(field, operand).is_some_and(Ordering::is_lt),
            Op::Ge(operand) => compare(field, operand).is_some_and(Ordering::is_ge),
            Op::Gt(operand) => compare(field, operand).is_some_and(Ordering::is_gt),
            Op::Contains(operand) => contains(field, operand),
            Op::NotContains(operand) => !contains(field, operand),
            Op::BeginsWith(prefix) => text(field).is_some_and(|t| t.starts_with(prefix.as_str())),
            Op::In(values) => !is_list(field) && values.iter().any(|v| equal(field, v)),
            Op::NotIn(values) => !values.iter().any(|v| equal(field, v)),
            Op::Between(low, high) => {
                compare(field, low).is_some_and(Ordering::is_gt)
                    && compare(field, high).is_some_and(Ordering::is_lt)
            }
            Op::ContainsAny(values) => match field {
                Value::List(items) => items.iter().any(|i| values.iter().any(|v| equal(i, v))),
                scalar => values.iter().any(|v| equal(scalar, v)),
            },
            Op::AttributeExists(wanted) => (*field != Value::Null) == *wanted,
        }
    }
}

/// The value at `path`, if every step is an object that has the next name.
fn lookup<'v>(payload: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut at = payload;
    for name in path {
        match at {
            Value::Object(fields) => at = fields.get(name.as_str())?,
            _ => return None,
        }
    }
    Some(at)
}

fn is_list(value: &Value) -> bool {
    matches!(value, Value::List(_))
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(text) => Some(text),
        Value::Enum(name) => Some(name.as_str()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Same JSON type and value; numbers by value; a list or an object equals nothing.
fn equal(field: &Value, operand: &Json) -> bool {
    match (field, operand) {
        (Value::Null, Json::Null) => true,
        (Value::Boolean(a), Json::Bool(b)) => a == b,
        (Value::Number(_), Json::Number(b)) => number(field) == b.as_f64(),
        (_, Json::String(b)) => text(field) == Some(b.as_str()),
        _ => false,
    }
}

/// Two numbers or two strings in order; anything else does not compare.
fn compare(field: &Value, operand: &Json) -> Option<Ordering> {
    match operand {
        Json::Number(b) => number(field)?.partial_cmp(&b.as_f64()?),
        Json::String(b) => Some(text(field)?.cmp(b.as_str())),
        _ => None,
    }
}

/// A substring of a string, an element of a list, or the value itself.
fn contains(field: &Value, operand: &Json) -> bool {
    match (field, operand) {
        (Value::String(text), Json::String(part)) => text.contains(part.as_str()),
        (Value::List(items), _) => items.iter().any(|item| equal(item, operand)),
        (scalar, _) => equal(scalar, operand),
    }
}

#[cfg(test)]
mod tests;
