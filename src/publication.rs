//! The unit that travels from a publisher to its subscribers: a [`Publication`], of one of two
//! kinds ([`Kind`]): a GraphQL mutation's result, or an AppSync Events event on a channel.

use async_graphql::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One publication (a mutation's result or a channel's event), published once and shared (behind
/// an `Arc`) by every subscriber and the history. It is serializable because the Redis bus
/// carries it between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Publication {
    /// Unique per publish, so a node can tell a repeated delivery from a new event.
    pub id: Uuid,
    /// The mutation that produced it; the routing table maps it to subscription fields.
    pub mutation: String,
    /// The result's named type (`Status`), which picks the history queries that keep it.
    pub type_name: String,
    pub published_at: DateTime<Utc>,
    /// The mutation's result: the object subscribers project their selection sets from.
    pub payload: Value,
    /// The AppSync Events channel (`/default/jobs`) of a channel event, whose payload is the
    /// event's JSON text; `None` for a mutation result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The event's JSON, made once: on a cluster the history and the bus both send it to Redis.
    #[serde(skip)]
    json: std::sync::OnceLock<String>,
}

/// What a publication is, and what routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A mutation's result, routed by the mutation and the result's fields.
    Mutation {
        mutation: &'a str,
        type_name: &'a str,
    },
    /// An AppSync Events event, routed by its channel's path.
    Channel { path: &'a str },
}

impl Publication {
    /// Its kind: a channel event when it has a channel, else a mutation's result.
    pub fn kind(&self) -> Kind<'_> {
        match &self.channel {
            Some(path) => Kind::Channel { path },
            None => Kind::Mutation {
                mutation: &self.mutation,
                type_name: &self.type_name,
            },
        }
    }

    pub fn new(mutation: &str, type_name: &str, payload: Value) -> Self {
        Self {
            id: Uuid::new_v4(),
            mutation: mutation.to_owned(),
            type_name: type_name.to_owned(),
            published_at: Utc::now(),
            payload,
            channel: None,
            json: std::sync::OnceLock::new(),
        }
    }

    /// An AppSync Events event published to `channel` (a checked channel's path): `text` is the
    /// event's JSON, delivered as it came.
    pub fn on_channel(channel: &str, text: String) -> Self {
        Self {
            channel: Some(channel.to_owned()),
            ..Self::new("", "", Value::String(text))
        }
    }

    /// The event as it travels between nodes and sits in Redis.
    pub fn to_json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(self).expect("an event always serializes"))
    }

    /// An event read back from Redis; one that does not parse (another version's, say) is
    /// logged and skipped rather than failing its topic.
    pub fn from_json(json: &str) -> Option<Self> {
        serde_json::from_str(json)
            .inspect_err(|error| tracing::warn!(%error, "unreadable event from Redis"))
            .ok()
    }

    /// An estimate of the memory the event takes (its payload's strings and nodes, its names):
    /// what a stream's byte budget counts, with the stream's own overhead.
    pub fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.mutation.len()
            + self.type_name.len()
            + value_bytes(&self.payload)
    }

    /// The value of a top-level field of the result; a missing field reads as `null`, which is
    /// what a subscriber filtering on an explicit `null` expects.
    pub fn field(&self, name: &str) -> &Value {
        match &self.payload {
            Value::Object(fields) => fields.get(name).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }
}

/// The heap an async-graphql value takes, roughly: each node, its strings, and an object's
/// names and index slots.
fn value_bytes(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::String(text) => text.len(),
            Value::List(items) => items.iter().map(value_bytes).sum(),
            Value::Object(fields) => fields
                .iter()
                .map(|(name, value)| name.len() + 32 + value_bytes(value))
                .sum(),
            _ => 0,
        }
}
