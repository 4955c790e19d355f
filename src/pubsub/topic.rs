//! Topic keys: one canonical string for a field and the argument values that filter it.
//!
//! The subscription index and the history both key on them, so a subscription's arguments, a
//! query's arguments and an event's fields that agree always produce the same key.

use std::fmt::Write;

use async_graphql::Value;

/// `field(a:"x",b:null)`, arguments sorted by name, values as canonical JSON (object keys
/// sorted), so equal filters always make equal keys.
pub fn topic_key<'a>(field: &str, args: impl IntoIterator<Item = (&'a str, &'a Value)>) -> String {
    let mut args: Vec<(&str, &Value)> = args.into_iter().collect();
    args.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut key = String::with_capacity(field.len() + 2 + args.len() * 24);
    key.push_str(field);
    key.push('(');
    for (i, (name, value)) in args.into_iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(name);
        key.push(':');
        write_canonical(&mut key, value);
    }
    key.push(')');
    key
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(fields) => {
            let mut fields: Vec<_> = fields.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, value)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, name);
                out.push(':');
                write_canonical(out, value);
            }
            out.push('}');
        }
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::String(s) => write_json_string(out, s),
        Value::Enum(name) => write_json_string(out, name),
        other => {
            // Numbers, booleans and null have one JSON spelling already.
            let _ = write!(out, "{other}");
        }
    }
}

fn write_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Name;

    #[test]
    fn argument_order_and_object_key_order_do_not_matter() {
        let a = Value::from("u1");
        let obj1 = Value::Object(
            [
                (Name::new("x"), Value::from(1)),
                (Name::new("y"), Value::Null),
            ]
            .into_iter()
            .collect(),
        );
        let obj2 = Value::Object(
            [
                (Name::new("y"), Value::Null),
                (Name::new("x"), Value::from(1)),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(
            topic_key("f", [("userId", &a), ("o", &obj1)]),
            topic_key("f", [("o", &obj2), ("userId", &a)])
        );
        assert_eq!(topic_key("f", [("userId", &a)]), r#"f(userId:"u1")"#);
    }

    #[test]
    fn null_string_and_missing_are_different_keys() {
        let null = Value::Null;
        let text = Value::from("null");
        assert_ne!(
            topic_key("f", [("a", &null)]),
            topic_key("f", [("a", &text)])
        );
        assert_ne!(topic_key("f", [("a", &null)]), topic_key("f", []));
    }
}
