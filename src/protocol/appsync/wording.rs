//! AppSync's wording for GraphQL validation errors. AppSync validates with graphql-java, and
//! clients, docs and Stack Overflow answers quote its messages ("Validation error of type
//! FieldUndefined: ..."); async-graphql words the same findings differently. This maps the
//! messages of the rules a subscription can break; anything else keeps its own words.

/// The message AppSync would give for a validation error worded by async-graphql.
pub fn appsync_message(message: &str) -> String {
    let q = quoted(message);
    let named = |kind: &str, text: String| format!("Validation error of type {kind}: {text}");
    if message.starts_with("Unknown field ")
        && let [field, ty, ..] = q.as_slice()
    {
        return named(
            "FieldUndefined",
            format!("Field '{field}' in type '{ty}' is undefined @ '{field}'"),
        );
    }
    if message.starts_with("Unknown argument ")
        && let [arg, field, ..] = q.as_slice()
    {
        return named(
            "UnknownArgument",
            format!("Unknown field argument {arg} @ '{field}'"),
        );
    }
    if message.ends_with("is required but not provided")
        && message.starts_with("Field ")
        && let [field, arg, ..] = q.as_slice()
    {
        return named(
            "MissingFieldArgument",
            format!("Missing field argument {arg} @ '{field}'"),
        );
    }
    if message.ends_with("must have a selection of subfields")
        && let [field, ty, ..] = q.as_slice()
    {
        return named(
            "SubSelectionRequired",
            format!("Sub selection required for type {ty} of field {field} @ '{field}'"),
        );
    }
    if message.contains("must not have a selection since type")
        && let [field, ty, ..] = q.as_slice()
    {
        return named(
            "SubSelectionNotAllowed",
            format!("Sub selection not allowed on leaf type {ty} of field {field} @ '{field}'"),
        );
    }
    if message.starts_with("Variable ")
        && message.ends_with("is not defined")
        && let [var, ..] = q.as_slice()
    {
        return named(
            "UndefinedVariable",
            format!("Undefined variable {}", var.trim_start_matches('$')),
        );
    }
    if message.starts_with("Variable ")
        && message.ends_with("is not used")
        && let [var, ..] = q.as_slice()
    {
        return named(
            "UnusedVariable",
            format!("Unused variable {}", var.trim_start_matches('$')),
        );
    }
    if message.starts_with("Invalid value for argument") {
        return named("WrongType", message.to_owned());
    }
    message.to_owned()
}

/// The double-quoted parts of a message, in order.
fn quoted(message: &str) -> Vec<&str> {
    message.split('"').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_java_wording() {
        assert_eq!(
            appsync_message(
                r#"Unknown field "onNothing" on type "Subscription". Did you mean "x"?"#
            ),
            "Validation error of type FieldUndefined: Field 'onNothing' in type 'Subscription' is undefined @ 'onNothing'"
        );
        assert_eq!(
            appsync_message(
                r#"Field "onStatusUpdate" argument "userId" of type "Subscription" is required but not provided"#
            ),
            "Validation error of type MissingFieldArgument: Missing field argument userId @ 'onStatusUpdate'"
        );
        assert_eq!(
            appsync_message(r#"Variable "$x" is not defined"#),
            "Validation error of type UndefinedVariable: Undefined variable x"
        );
        assert_eq!(appsync_message("something else"), "something else");
    }
}
