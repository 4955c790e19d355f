//! Amplify's model-subscription filter inputs (`ModelSubscriptionTodoFilterInput`:
//! `{priority: {gt: 3}, status: {in: ["open"]}, and: [...], or: [...]}`) turned into filter
//! groups as AppSync's `util.transform.toSubscriptionFilter` turns them: a map is the AND of its
//! fields, of its `and` list and of the OR of its `or` list; several operators on one field are
//! ORed (a range needs `between`); the result is put in disjunctive normal form, one group per
//! conjunction. Null values, empty maps and empty lists contribute nothing.

use async_graphql::Value;

use super::group::{FilterError, RawRule};

/// An OR of ANDs. `vec![vec![]]` is true (an AND of nothing); `vec![]` would be false.
type Dnf = Vec<Vec<RawRule>>;

/// The filter groups of an Amplify filter input.
pub fn to_groups(input: &Value) -> Result<Dnf, FilterError> {
    map(input)
}

fn map(input: &Value) -> Result<Dnf, FilterError> {
    let Value::Object(fields) = input else {
        return match input {
            Value::Null => Ok(vec![Vec::new()]),
            _ => Err(FilterError::Malformed(
                "a filter is an object of fields, `and` and `or`".to_owned(),
            )),
        };
    };
    let mut result: Dnf = vec![Vec::new()];
    for (key, value) in fields {
        let part = match (key.as_str(), value) {
            (_, Value::Null) => continue,
            ("and", Value::List(items)) => {
                let mut all: Dnf = vec![Vec::new()];
                for item in items {
                    all = and(&all, &map(item)?);
                }
                all
            }
            ("or", Value::List(items)) => {
                if items.is_empty() {
                    continue;
                }
                let mut any: Dnf = Vec::new();
                for item in items {
                    any.extend(map(item)?);
                }
                any
            }
            ("not", _) => return Err(FilterError::Unsupported("not".to_owned())),
            (field, Value::Object(operators)) => {
                if operators.is_empty() {
                    continue;
                }
                let mut any: Dnf = Vec::new();
                for (operator, operand) in operators {
                    if *operand == Value::Null {
                        continue;
                    }
                    any.push(vec![RawRule {
                        field_name: field.to_owned(),
                        operator: operator.to_string(),
                        value: operand.clone().into_json().unwrap_or_default(),
                    }]);
                }
                if any.is_empty() {
                    continue;
                }
                any
            }
            (field, _) => {
                return Err(FilterError::Malformed(format!(
                    "`{field}` takes an object of operators"
                )));
            }
        };
        result = and(&result, &part);
    }
    Ok(result)
}

/// The conjunction of two DNFs: every group of one with every group of the other.
pub fn and(left: &Dnf, right: &Dnf) -> Dnf {
    let mut product = Vec::with_capacity(left.len() * right.len());
    for a in left {
        for b in right {
            product.push(a.iter().chain(b).cloned().collect());
        }
    }
    product
}
