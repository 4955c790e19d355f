//! `switchboard schema check`: whether an SDL file is servable, and what Switchboard makes of it —
//! the routing table (mutation → the subscription fields it fires, with their filter
//! arguments), the history queries, and the auth rules — or, when it is not servable, the error
//! at its line and column, as compilers print them.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Pos;
use async_graphql::parser::types::{ConstDirective, TypeKind, TypeSystemDefinition};

use super::{Api, SchemaLimits};
use crate::auth::AuthMode;
use crate::connections::Connections;
use crate::graphql::rules::Rules;
use crate::graphql::schema::SchemaError;
use crate::graphql::schema::access::{AccessPolicy, AccessRule};
use crate::graphql::schema::model::{ArgDef, FilterKind, SchemaModel, SubscriptionPlan, TypeDef};
use crate::pubsub::{Broker, Idempotency, Invalidations, LocalBus, SubscriptionIndex, TopicPlan};
use crate::stream::{MemoryStreams, StreamLimits};

/// Checks `sdl` as the server does at start-up: the model, then the executable schema.
pub fn servable(sdl: &str) -> Result<Arc<SchemaModel>, SchemaError> {
    let model = Arc::new(SchemaModel::parse(sdl)?);
    let policy = AccessPolicy {
        default_mode: AuthMode::ApiKey,
        owner: None,
        admin_group: None,
    };
    detached_api(model.clone(), policy)?;
    Ok(model)
}

/// The query limits a detached API applies: the server's defaults, no document cache.
pub const DETACHED_LIMITS: SchemaLimits = SchemaLimits {
    max_depth: 16,
    max_complexity: 1000,
    parsed_documents: 0,
};

/// The API as the server builds it from `model` (see [`DETACHED_LIMITS`]), over a
/// [`detached_broker`]. What `schema check` builds, and what the fuzz targets validate against.
pub fn detached_api(model: Arc<SchemaModel>, policy: AccessPolicy) -> Result<Api, SchemaError> {
    let broker = detached_broker(&model)?;
    Api::new(model, broker, DETACHED_LIMITS, policy)
}

/// A broker over a bus with no subscribers whose streams keep the latest event of each of a
/// few topics only: a publish goes nowhere and is soon forgotten.
pub fn detached_broker(model: &SchemaModel) -> Result<Arc<Broker>, SchemaError> {
    let topics =
        Arc::new(TopicPlan::new(model).map_err(|e| SchemaError::Invalid(e.to_string(), None))?);
    let streams = MemoryStreams::new(StreamLimits {
        per_topic: 1,
        topic_bytes: 1 << 20,
        total_bytes: 1 << 20,
        max_topics: 64,
        max_age: Duration::from_secs(60),
    });
    let bus = LocalBus::new(
        Arc::new(SubscriptionIndex::new()),
        topics.clone(),
        streams,
        Arc::new(Connections::default()),
        Arc::new(Invalidations::default()),
        Idempotency {
            ttl: Duration::from_secs(1),
            max_keys: 1,
        },
    );
    Ok(Arc::new(Broker::new(
        Arc::new(bus),
        topics,
        Arc::new(Rules::default()),
        1,
        metrics::Counter::noop(),
    )))
}

/// The error as `FILE:LINE:COLUMN: error: message` (`FILE: error: message` when the position is
/// unknown), followed by the source line with a caret under the column.
pub fn diagnostic(file: &str, sdl: &str, error: &SchemaError) -> String {
    let message = match error {
        // The parser's message is pest's multi-line report; its `= ...` line says what was wrong.
        SchemaError::Parse(text, _) => {
            let summary = text
                .lines()
                .map(str::trim)
                .find_map(|line| line.strip_prefix("= "))
                .unwrap_or(text.trim());
            format!("not valid GraphQL SDL: {}", humanize(summary))
        }
        SchemaError::Invalid(text, _) => text.clone(),
        SchemaError::Build(text) => format!("the schema could not be built: {text}"),
    };
    let Some(Pos { line, column }) = error.pos() else {
        return format!("{file}: error: {message}\n");
    };
    let mut out = format!("{file}:{line}:{column}: error: {message}\n");
    if let Some(source) = sdl.lines().nth(line.saturating_sub(1)) {
        let number = line.to_string();
        // Keep the source's tabs so the caret lines up with what the terminal shows.
        let indent: String = source
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let gutter = " ".repeat(number.len());
        let _ = writeln!(out, " {number} | {source}");
        let _ = writeln!(out, " {gutter} | {indent}^");
    }
    out
}

/// pest's rule names as words: `expected type_ or const_directive` → `expected type or
/// directive`.
fn humanize(summary: &str) -> String {
    summary
        .split(' ')
        .map(|word| {
            let (word, comma) = match word.strip_suffix(',') {
                Some(word) => (word, ","),
                None => (word, ""),
            };
            let word = match word {
                "EOI" => "end of input".to_owned(),
                _ => word
                    .strip_prefix("const_")
                    .unwrap_or(word)
                    .trim_end_matches('_')
                    .replace('_', " "),
            };
            format!("{word}{comma}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The routing table, the history queries and the auth rules of a servable schema. `sdl` is the
/// document `model` was parsed from (it tells which types and fields carry auth directives);
/// `default` is the mode of fields without any.
pub fn summary(model: &SchemaModel, sdl: &str, default: AuthMode) -> String {
    let mut out = String::new();
    routes(model, &mut out);
    history(model, &mut out);
    auth(model, sdl, default, &mut out);
    let warnings = model.warnings();
    if !warnings.is_empty() {
        out.push_str("warnings:\n");
        for warning in warnings {
            let _ = writeln!(out, "  {warning}");
        }
    }
    out
}

/// What a rules file (`--rules`) adds: each field's server-side and invalidation filters, and
/// the invalidations each mutation issues.
pub fn rules_summary(rules: &Rules) -> String {
    let mut out = String::from("rules:\n");
    let mut fields: Vec<_> = rules.subscriptions.iter().collect();
    fields.sort_by_key(|(name, _)| name.as_str());
    for (field, rule) in fields {
        if let Some(filter) = &rule.filter {
            let _ = writeln!(
                out,
                "  {field}: filter {filter} (ANDed with the subscriber's)"
            );
        }
        if let Some(filter) = &rule.invalidation_filter {
            let _ = writeln!(
                out,
                "  {field}: invalidated when the payload passes {filter}"
            );
        }
    }
    for invalidation in &rules.invalidations {
        let _ = writeln!(
            out,
            "  {} invalidates {} with {}",
            invalidation.mutation, invalidation.subscription_field, invalidation.payload
        );
    }
    if rules.subscriptions.is_empty() && rules.invalidations.is_empty() {
        out.push_str("  (none)\n");
    }
    out
}

/// A subscription field with its arguments, its enhanced-filter argument marked.
fn subscription_with_args(plan: &SubscriptionPlan) -> String {
    let args: Vec<String> = plan
        .args
        .iter()
        .map(|arg| {
            let text = args_list(std::slice::from_ref(arg));
            match &plan.filter_arg {
                Some(filter) if filter.name == arg.name => match filter.kind {
                    FilterKind::Model => format!("{text} [enhanced filter: Amplify input]"),
                    FilterKind::Json => format!("{text} [enhanced filter: filterGroup JSON]"),
                },
                _ => text,
            }
        })
        .collect();
    if args.is_empty() {
        plan.field.clone()
    } else {
        format!("{}({})", plan.field, args.join(", "))
    }
}

fn args_list(args: &[ArgDef]) -> String {
    args.iter()
        .map(|arg| match &arg.default {
            Some(value) => format!("{}: {} = {value}", arg.name, arg.ty),
            None => format!("{}: {}", arg.name, arg.ty),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `field(arg: Type, ...)`, or `field` without arguments.
fn with_args(field: &str, args: &[ArgDef]) -> String {
    if args.is_empty() {
        field.to_owned()
    } else {
        format!("{field}({})", args_list(args))
    }
}

fn root_fields<'a>(model: &'a SchemaModel, root: Option<&String>) -> Vec<&'a str> {
    root.and_then(|r| model.object(r))
        .map(|o| o.fields.iter().map(|f| f.name.as_str()).collect())
        .unwrap_or_default()
}

fn routes(model: &SchemaModel, out: &mut String) {
    out.push_str(
        "routes (mutation -> the subscription fields it fires, with their filter arguments):\n",
    );
    let mutations = root_fields(model, model.roots.mutation.as_ref());
    if mutations.is_empty() {
        out.push_str("  (no mutations)\n");
    }
    for mutation in mutations {
        let fired: Vec<String> = model
            .routes
            .get(mutation)
            .into_iter()
            .flatten()
            .map(|field| match model.subscriptions.get(&**field) {
                Some(plan) => subscription_with_args(plan),
                None => field.to_string(),
            })
            .collect();
        let fired = if fired.is_empty() {
            "(no subscription)".to_owned()
        } else {
            fired.join(", ")
        };
        let _ = writeln!(out, "  {mutation} -> {fired}");
    }
    let silent: Vec<String> = root_fields(model, model.roots.subscription.as_ref())
        .into_iter()
        .filter_map(|field| model.subscriptions.get(field))
        .filter(|plan| plan.mutations.is_empty())
        .map(|plan| with_args(&plan.field, &plan.args))
        .collect();
    if !silent.is_empty() {
        out.push_str("subscriptions without @aws_subscribe (no mutation fires them):\n");
        for field in silent {
            let _ = writeln!(out, "  {field}");
        }
    }
}

fn history(model: &SchemaModel, out: &mut String) {
    let query = model.object(&model.roots.query);
    let arg = |field: &str, name: &str| {
        query
            .and_then(|q| q.field(field))
            .and_then(|f| f.args.iter().find(|a| a.name == name))
            .map_or_else(|| name.to_owned(), |a| args_list(std::slice::from_ref(a)))
    };
    let list = |field: &str, names: &[String]| {
        names
            .iter()
            .map(|name| arg(field, name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !model.history.is_empty() {
        out.push_str(
            "history queries (required arguments pick the topic, optional ones filter, newest \
             last):\n",
        );
    }
    for plan in &model.history {
        let field = plan.field.as_str();
        let mut parts = vec![plan.item_type.clone()];
        parts.push(if plan.partition.is_empty() {
            "partition (none: one topic)".to_owned()
        } else {
            format!("partition ({})", list(field, &plan.partition))
        });
        if !plan.filters.is_empty() {
            parts.push(format!("filter ({})", list(field, &plan.filters)));
        }
        if let Some(limit) = &plan.limit_arg {
            parts.push(format!("limit ({})", arg(field, limit)));
        }
        let _ = writeln!(out, "  {field}: {}", parts.join(", "));
    }
    let others: Vec<&str> = root_fields(model, Some(&model.roots.query))
        .into_iter()
        .filter(|field| !model.history.iter().any(|h| h.field == *field))
        .collect();
    if !others.is_empty() {
        let _ = writeln!(
            out,
            "other queries answer null (no resolver): {}",
            others.join(", ")
        );
    }
}

fn has_auth(directives: &[async_graphql::Positioned<ConstDirective>]) -> bool {
    directives
        .iter()
        .any(|d| AuthMode::from_directive(d.node.name.node.as_str()).is_some())
}

fn describe(rule: &AccessRule) -> String {
    rule.modes
        .iter()
        .map(|mode| match (&rule.cognito_groups, mode) {
            (Some(groups), AuthMode::Cognito) => {
                format!("{mode} (groups: {})", groups.join(", "))
            }
            _ => mode.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn auth(model: &SchemaModel, sdl: &str, default: AuthMode, out: &mut String) {
    // Which types and fields carry directives comes from the document; what they admit from
    // the model's rules, the ones the server enforces.
    let mut lines = Vec::new();
    if let Ok(document) = async_graphql::parser::parse_schema(sdl) {
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(def) = definition else {
                continue;
            };
            let def = &def.node;
            let type_name = def.name.node.as_str();
            // A field name cannot be empty, so this is the type's own rule.
            if has_auth(&def.directives)
                && let Some(rule) = model.access.rule(type_name, "")
            {
                lines.push(format!("type {type_name}: {}", describe(rule)));
            }
            if let TypeKind::Object(object) = &def.kind {
                for field in &object.fields {
                    let field = &field.node;
                    if has_auth(&field.directives)
                        && let Some(rule) = model.access.rule(type_name, &field.name.node)
                    {
                        lines.push(format!(
                            "{type_name}.{}: {}",
                            field.name.node,
                            describe(rule)
                        ));
                    }
                }
            }
        }
    }
    if lines.is_empty() {
        let _ = writeln!(
            out,
            "auth: no @aws_* auth directives; every field is for the default mode ({default}) only"
        );
        return;
    }
    out.push_str(
        "auth (a field's directives decide, else its type's, else only the default mode):\n",
    );
    lines.dedup();
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
    // Every selected field is checked, nested ones included: list what only the default admits.
    let mut default_only = Vec::new();
    for (type_name, def) in &model.types {
        let TypeDef::Object(object) = def else {
            continue;
        };
        let open: Vec<&str> = object
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .filter(|field| model.access.rule(type_name, field).is_none())
            .collect();
        if open.len() == object.fields.len() && !open.is_empty() {
            default_only.push(format!("{type_name} (every field)"));
        } else {
            default_only.extend(open.iter().map(|field| format!("{type_name}.{field}")));
        }
    }
    if default_only.is_empty() {
        let _ = writeln!(
            out,
            "  fields without directives use the default mode ({default})"
        );
    } else {
        let _ = writeln!(
            out,
            "  fields without directives use the default mode ({default}) only: {}",
            default_only.join(", ")
        );
    }
}
