//! The bridge from GraphQL to AppSync Events (`--event-bridge publishStatus=/status/{userId}/{jobId}`):
//! a mutation's result is also published to the channel its template names, its `{field}`
//! placeholders filled from the result's top-level fields, so one orchestrator publish reaches
//! both kinds of subscriber. A result without one of the fields goes to no channel.

use async_graphql::Value;

/// One mutation's channel template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub mutation: String,
    /// `/status/{userId}/{jobId}`, split into literal text and field names.
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(String),
}

impl Bridge {
    /// Reads `MUTATION=/namespace/{field}/…`, as the setting takes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (mutation, template) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not MUTATION=/namespace/{{field}}/..."))?;
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{template}` has an unclosed `{{`"))?;
            parts.push(Part::Field(rest[open + 1..open + close].to_owned()));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if mutation.is_empty() || parts.is_empty() {
            return Err(format!("`{text}` is not MUTATION=/namespace/{{field}}/..."));
        }
        Ok(Self {
            mutation: mutation.to_owned(),
            parts,
        })
    }

    /// The channel a result goes to, `None` when it lacks a field the template names (or has a
    /// value that is not a string or a number).
    pub fn channel_for(&self, result: &Value) -> Option<String> {
        let Value::Object(fields) = result else {
            return None;
        };
        let mut channel = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => channel.push_str(text),
                Part::Field(name) => match fields.get(name.as_str())? {
                    Value::String(text) => channel.push_str(text),
                    Value::Number(n) => channel.push_str(&n.to_string()),
                    _ => return None,
                },
            }
        }
        Some(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_from_the_result() {
        let bridge = Bridge::parse("publishStatus=/status/{userId}/{jobId}").unwrap();
        assert_eq!(bridge.mutation, "publishStatus");
        let result = Value::from_json(serde_json::json!({"userId": "u1", "jobId": 7})).unwrap();
        assert_eq!(bridge.channel_for(&result).as_deref(), Some("/status/u1/7"));
        let partial = Value::from_json(serde_json::json!({"userId": "u1"})).unwrap();
        assert_eq!(bridge.channel_for(&partial), None);
        assert!(Bridge::parse("/status/{userId}").is_err());
        assert!(Bridge::parse("m=/status/{userId").is_err());
    }
}
