//! AppSync's filter JSON (`{"filterGroup": [{"filters": [{"fieldName", "operator", "value"}]}]}`)
//! and the checks every filter passes when its subscription starts, with AppSync's limits and
//! error texts (Amplify DataStore matches on these texts to fall back to filtering itself, so
//! they are kept verbatim).

use serde::Deserialize;
use serde_json::Value as Json;

use super::{Filter, Op, Rule};
use crate::operation::{ErrorType, GraphqlError};

/// Distinct field names in one filter.
pub const MAX_FIELDS: usize = 5;
/// Groups in one filter, an `in` of n values counting as n.
pub const MAX_COMBINATIONS: usize = 10;
/// Values of an `in` or a `notIn`.
pub const MAX_IN_VALUES: usize = 5;
/// Values of a `containsAny`.
pub const MAX_CONTAINS_ANY_VALUES: usize = 20;
/// Characters of a string value.
pub const MAX_STRING: usize = 256;
/// Levels of a dotted field name; a rule on a deeper one never matches.
pub const MAX_DEPTH: usize = 5;

/// Why a filter is refused, worded as AppSync words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("subscription exceeds maximum value limit {limit} for operator `{operator}`.")]
    TooManyValues { operator: String, limit: usize },
    #[error("subscription filter has invalid filter value for operator `{operator}`.")]
    InvalidValue { operator: String },
    #[error("Filters exceed maximum attributes limit {MAX_FIELDS} for subscription.")]
    TooManyFields,
    #[error("Filters combination exceed maximum limit {MAX_COMBINATIONS} for subscription.")]
    TooManyCombinations,
    #[error("subscription filter uses same fieldName multiple time")]
    SameField,
    #[error("subscription filter is not a valid filterGroup: {0}")]
    Malformed(String),
    #[error("subscription filter cannot use `{0}`")]
    Unsupported(String),
}

impl From<FilterError> for GraphqlError {
    fn from(error: FilterError) -> Self {
        GraphqlError::new(Some(ErrorType::BadRequestException), error.to_string())
    }
}

/// One rule as written, before it is checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawRule {
    pub field_name: String,
    pub operator: String,
    #[serde(default)]
    pub value: Json,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FilterGroupJson {
    filter_group: Vec<FiltersJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FiltersJson {
    filters: Vec<RawRule>,
}

/// Reads AppSync's filter JSON (an object, or its text).
pub fn from_json(json: &Json) -> Result<Vec<Vec<RawRule>>, FilterError> {
    let parsed = match json {
        Json::String(text) => serde_json::from_str::<FilterGroupJson>(text),
        other => FilterGroupJson::deserialize(other),
    }
    .map_err(|e| FilterError::Malformed(e.to_string()))?;
    Ok(parsed
        .filter_group
        .into_iter()
        .map(|group| group.filters)
        .collect())
}

/// Checks `groups` as AppSync does when a subscription starts: each rule's operator and value,
/// then the number of distinct fields, a field used twice in one group, and the combinations.
/// Empty groups are dropped; a filter with none left is `None` (no enhanced filter).
pub fn check(groups: Vec<Vec<RawRule>>) -> Result<Option<Filter>, FilterError> {
    let groups: Vec<Vec<RawRule>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let mut checked = Vec::with_capacity(groups.len());
    for group in &groups {
        let mut rules = group.iter().map(rule).collect::<Result<Vec<_>, _>>()?;
        // Kept for the subscription's life (every subscription keeps one for invalidations):
        // no spare capacity.
        rules.shrink_to_fit();
        checked.push(rules);
    }
    let mut fields: Vec<&str> = groups
        .iter()
        .flatten()
        .map(|r| r.field_name.as_str())
        .collect();
    fields.sort_unstable();
    fields.dedup();
    if fields.len() > MAX_FIELDS {
        return Err(FilterError::TooManyFields);
    }
    for group in &groups {
        let mut names: Vec<&str> = group.iter().map(|r| r.field_name.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(FilterError::SameField);
        }
    }
    let combinations: usize = checked
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|rule: &Rule| match &rule.op {
                    Op::In(values) => values.len(),
                    _ => 1,
                })
                .product::<usize>()
        })
        .sum();
    if combinations > MAX_COMBINATIONS {
        return Err(FilterError::TooManyCombinations);
    }
    Ok(Some(Filter::new(checked)))
}

/// One rule, its operator and value checked.
fn rule(raw: &RawRule) -> Result<Rule, FilterError> {
    let operator = raw.operator.as_str();
    let invalid = || FilterError::InvalidValue {
        operator: operator.to_owned(),
    };
    let scalar = |value: &Json| -> Result<Json, FilterError> {
        match value {
            Json::Number(_) => Ok(value.clone()),
            Json::String(text) if text.chars().count() <= MAX_STRING => Ok(value.clone()),
            _ => Err(invalid()),
        }
    };
    let equatable = |value: &Json| -> Result<Json, FilterError> {
        match value {
            Json::Bool(_) | Json::Null => Ok(value.clone()),
            other => scalar(other),
        }
    };
    let list = |limit: usize| -> Result<Vec<Json>, FilterError> {
        let Json::Array(values) = &raw.value else {
            return Err(invalid());
        };
        if values.is_empty() {
            return Err(invalid());
        }
        if values.len() > limit {
            return Err(FilterError::TooManyValues {
                operator: operator.to_owned(),
                limit,
            });
        }
        values.iter().map(scalar).collect()
    };
    let op = match operator {
        "eq" => Op::Eq(equatable(&raw.value)?),
        "ne" => Op::Ne(equatable(&raw.value)?),
        "le" | "lte" => Op::Le(scalar(&raw.value)?),
        "lt" => Op::Lt(scalar(&raw.value)?),
        "ge" | "gte" => Op::Ge(scalar(&raw.value)?),
        "gt" => Op::Gt(scalar(&raw.value)?),
        "contains" => Op::Contains(scalar(&raw.value)?),
        "notContains" => Op::NotContains(scalar(&raw.value)?),
        "beginsWith" => match scalar(&raw.value)? {
            Json::String(prefix) => Op::BeginsWith(prefix),
            _ => return Err(invalid()),
        },
        "in" => Op::In(list(MAX_IN_VALUES)?),
        "notIn" => Op::NotIn(list(MAX_IN_VALUES)?),
        "containsAny" => Op::ContainsAny(list(MAX_CONTAINS_ANY_VALUES)?),
        "between" => match &raw.value {
            Json::Array(pair) if pair.len() == 2 => {
                Op::Between(scalar(&pair[0])?, scalar(&pair[1])?)
            }
            _ => return Err(invalid()),
        },
        "attributeExists" => match raw.value {
            Json::Bool(wanted) => Op::AttributeExists(wanted),
            _ => return Err(invalid()),
        },
        _ => return Err(invalid()),
    };
    let path: Vec<String> = raw.field_name.split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(FilterError::Malformed(format!(
            "`{}` is not a field name",
            raw.field_name
        )));
    }
    Ok(Rule { path, op })
}
