//! Which topics an event is written to: its streams and the channels it is published on.
//!
//! For each subscription field the mutation fires, one topic per set of arguments a subscriber
//! can supply: every required argument (non-null, no default) and any subset of the optional
//! ones, valued from the event's top-level fields (`onStatusUpdate(userId:"u1")` for the status
//! schema; a field with one optional argument has two). Each subscriber sits under exactly one of
//! them, so it gets each event once.
//!
//! A history query (`statusHistory(userId:)`) reads the stream of the subscription topic with the
//! same arguments when that subscription fires on every mutation that returns the query's type:
//! the same events, kept once. Otherwise the query has a topic of its own, written alongside.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Value;

use super::topic::topic_key;
use crate::graphql::schema::SchemaModel;
use crate::graphql::schema::model::HistoryPlan;
use crate::publication::{Kind, Publication};

/// Optional arguments a field may have: each subset is a topic, so 2^n topics per publish.
pub const MAX_OPTIONAL_ARGS: usize = 8;

/// A field with too many optional arguments to write a topic per subset.
#[derive(Debug, thiserror::Error)]
#[error(
    "subscription field {field} has {count} optional arguments; at most {MAX_OPTIONAL_ARGS} can be routed"
)]
pub struct TooManyArguments {
    pub field: String,
    pub count: usize,
}

/// One kind of topic a mutation writes: a field and the argument names its key carries.
#[derive(Debug)]
struct Shape {
    field: Arc<str>,
    args: Vec<String>,
}

/// Mutation -> the topics its events go to; history query -> the topic it reads.
#[derive(Debug, Default)]
pub struct TopicPlan {
    by_mutation: HashMap<String, Vec<Shape>>,
    /// History query field -> the field whose topics it reads (a subscription field, or itself).
    history: HashMap<String, Arc<str>>,
}

impl TopicPlan {
    pub fn new(model: &SchemaModel) -> Result<Self, TooManyArguments> {
        let mut plan = Self::default();
        for (mutation, fields) in &model.routes {
            let shapes = plan.by_mutation.entry(mutation.clone()).or_default();
            for field in fields {
                let Some(subscription) = model.subscriptions.get(&**field) else {
                    continue;
                };
                let (required, optional): (Vec<_>, Vec<_>) = subscription
                    .equality_args()
                    .partition(|arg| !arg.ty.nullable && arg.default.is_none());
                if optional.len() > MAX_OPTIONAL_ARGS {
                    return Err(TooManyArguments {
                        field: field.to_string(),
                        count: optional.len(),
                    });
                }
                for subset in 0u32..(1 << optional.len()) {
                    let mut args: Vec<String> = required.iter().map(|a| a.name.clone()).collect();
                    args.extend(
                        optional
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| subset & (1 << i) != 0)
                            .map(|(_, a)| a.name.clone()),
                    );
                    shapes.push(Shape {
                        field: field.clone(),
                        args,
                    });
                }
            }
        }
        for history in &model.history {
            let field = plan.history_source(model, history);
            if *field == *history.field {
                for (mutation, result) in &model.mutations {
                    if result.return_type == history.item_type {
                        plan.by_mutation
                            .entry(mutation.clone())
                            .or_default()
                            .push(Shape {
                                field: field.clone(),
                                args: history.partition.clone(),
                            });
                    }
                }
            }
            plan.history.insert(history.field.clone(), field);
        }
        Ok(plan)
    }

    /// The subscription field whose topics `history` can read, or the query's own name.
    fn history_source(&self, model: &SchemaModel, history: &HistoryPlan) -> Arc<str> {
        let mut partition = history.partition.clone();
        partition.sort();
        let publishers: Vec<&String> = model
            .mutations
            .iter()
            .filter(|(_, m)| m.return_type == history.item_type)
            .map(|(name, _)| name)
            .collect();
        let mut candidates: Vec<_> = model
            .subscriptions
            .iter()
            .filter(|(_, s)| {
                s.return_type == history.item_type
                    && publishers.iter().all(|m| s.mutations.contains(m))
                    && {
                        let mut names: Vec<&String> = s.equality_args().map(|a| &a.name).collect();
                        names.sort();
                        names == partition.iter().collect::<Vec<_>>()
                    }
            })
            .map(|(name, _)| name.as_str())
            .collect();
        // Several would do: any gives the same events; pick one the same way every time.
        candidates.sort_unstable();
        Arc::from(candidates.first().copied().unwrap_or(&history.field))
    }

    /// Every topic `event` is written to and published on.
    pub fn topics(&self, event: &Publication) -> Vec<String> {
        let mutation = match event.kind() {
            Kind::Channel { path } => return crate::events::channel::publish_topics(path),
            Kind::Mutation { mutation, .. } => mutation,
        };
        let Some(shapes) = self.by_mutation.get(mutation) else {
            return Vec::new();
        };
        shapes
            .iter()
            .map(|shape| {
                topic_key(
                    &shape.field,
                    shape
                        .args
                        .iter()
                        .map(|name| (name.as_str(), event.field(name))),
                )
            })
            .collect()
    }

    /// The topic a history query reads, from its required arguments.
    pub fn history_topic<'a>(
        &self,
        history: &HistoryPlan,
        arg: impl Fn(&str) -> &'a Value,
    ) -> String {
        let field = self
            .history
            .get(&history.field)
            .map_or(history.field.as_str(), |f| &**f);
        topic_key(
            field,
            history
                .partition
                .iter()
                .map(|name| (name.as_str(), arg(name))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(mutation: &str, payload: serde_json::Value) -> Publication {
        Publication::new(mutation, "Status", Value::from_json(payload).unwrap())
    }

    #[test]
    fn the_status_schema_writes_one_topic_that_the_history_reads() {
        let model = SchemaModel::parse(crate::graphql::schema::DEFAULT_SDL).unwrap();
        let plan = TopicPlan::new(&model).unwrap();
        let status = event(
            "publishStatus",
            serde_json::json!({"userId": "u1", "jobId": "j", "status": "s"}),
        );
        assert_eq!(plan.topics(&status), [r#"onStatusUpdate(userId:"u1")"#]);
        let history = &model.history[0];
        let u1 = Value::from("u1");
        assert_eq!(
            plan.history_topic(history, |_| &u1),
            r#"onStatusUpdate(userId:"u1")"#
        );
    }

    #[test]
    fn optional_arguments_make_a_topic_per_subset_and_unmatched_history_has_its_own() {
        let model = SchemaModel::parse(
            r#"
            type Query { byJob(jobId: ID!): [Item!]! }
            type Mutation { put(userId: ID!, jobId: ID!, kind: String): Item }
            type Subscription { on(userId: ID!, kind: String): Item @aws_subscribe(mutations: ["put"]) }
            type Item { userId: ID! jobId: ID! kind: String }
            "#,
        )
        .unwrap();
        let plan = TopicPlan::new(&model).unwrap();
        let mut topics = plan.topics(&event(
            "put",
            serde_json::json!({"userId": "u", "jobId": "j", "kind": "k"}),
        ));
        topics.sort();
        assert_eq!(
            topics,
            [
                r#"byJob(jobId:"j")"#,
                r#"on(kind:"k",userId:"u")"#,
                r#"on(userId:"u")"#,
            ]
        );
    }
}
