//! Reading a definition file (YAML; JSON, which YAML 1.2 reads too) into the model, and the
//! checks that need the whole of it. Every failure is a [`Diagnostic`] with a stable code, at its
//! line and column where the parser knows them, else at its path in the model.

use std::fmt;
use std::path::Path;

use serde_saphyr::Error as YamlError;

use super::Definition;
use super::auth::ProviderType;

/// The stable codes of what a definition can get wrong (`docs/api-definition` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Not YAML or JSON.
    E001,
    /// A key the model does not have.
    E002,
    /// A value of the wrong type, or not one of its allowed values; a required key missing.
    E003,
    /// A `${env.NAME}` that is not set and has no default, or a `${file.PATH}` that cannot be read.
    E004,
    /// The file cannot be read.
    E005,
    /// A `version` this Switchboard does not read.
    E006,
    /// A resolver or function names a data source or function that is not defined.
    E104,
    /// A PIPELINE resolver without functions, or a UNIT one without a data source.
    E105,
    /// An API names an auth provider that is not defined.
    E201,
    /// More than one AWS_LAMBDA provider in one API.
    E203,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::E001 => "E001",
            Self::E002 => "E002",
            Self::E003 => "E003",
            Self::E004 => "E004",
            Self::E005 => "E005",
            Self::E006 => "E006",
            Self::E104 => "E104",
            Self::E105 => "E105",
            Self::E201 => "E201",
            Self::E203 => "E203",
        }
    }
}

/// Where a diagnostic points: a line and column, or a path in the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Position { line: u64, column: u64 },
    Path(String),
    File,
}

/// One thing wrong with a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub file: String,
    pub at: At,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `FILE:LINE:COLUMN: error[E002]: …`, or `FILE: error[E104]: graphql.resolvers…: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (file, code, message) = (&self.file, self.code.as_str(), &self.message);
        match &self.at {
            At::Position { line, column } => {
                write!(f, "{file}:{line}:{column}: error[{code}]: {message}")
            }
            At::Path(path) => write!(f, "{file}: error[{code}]: {path}: {message}"),
            At::File => write!(f, "{file}: error[{code}]: {message}"),
        }
    }
}

/// What a definition holds, in a line: its providers, resolvers and Events namespaces.
pub fn summary(definition: &Definition) -> String {
    let resolvers = definition.graphql.as_ref().map_or(0, |g| g.resolvers.len());
    let namespaces = definition.events.as_ref().map_or(0, |e| e.namespaces.len());
    format!(
        "{} auth providers, {resolvers} resolvers, {namespaces} Events namespaces",
        definition.auth.providers.len()
    )
}

/// A definition as written, and as used (references expanded).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub raw: Definition,
    pub definition: Definition,
}

/// Reads and parses the definition at `path`, then checks it as a whole.
pub fn load(path: &Path) -> Result<Definition, Vec<Diagnostic>> {
    load_both(path).map(|loaded| loaded.definition)
}

/// [`load`], keeping the definition as written beside it (what `api print` redacts from).
pub fn load_both(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        vec![Diagnostic {
            code: Code::E005,
            file: file.clone(),
            at: At::File,
            message: format!("cannot read the file: {error}"),
        }]
    })?;
    let raw = parse(&text, &file).map_err(|d| vec![d])?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let definition = expanded(raw.clone(), dir, &file)?;
    let problems = check(&definition, &file);
    if problems.is_empty() {
        Ok(Loaded { raw, definition })
    } else {
        Err(problems)
    }
}

/// `definition` with its `${env…}` and `${file…}` references expanded (see
/// [`super::expand`]); what cannot be is E004 at its path.
fn expanded(definition: Definition, dir: &Path, file: &str) -> Result<Definition, Vec<Diagnostic>> {
    let mut value = serde_json::to_value(&definition).expect("a definition is JSON");
    let env = |name: &str| std::env::var(name).ok();
    let problems: Vec<Diagnostic> = super::expand::expand(&mut value, dir, &env)
        .into_iter()
        .map(|unexpanded| Diagnostic {
            code: Code::E004,
            file: file.to_owned(),
            at: At::Path(unexpanded.path),
            message: unexpanded.message,
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    // Only strings changed, into strings: the model takes them as it took the originals.
    serde_json::from_value(value).map_err(|error| {
        vec![Diagnostic {
            code: Code::E003,
            file: file.to_owned(),
            at: At::File,
            message: format!("after expansion: {error}"),
        }]
    })
}

/// Parses `text` (named `file` in diagnostics) into the model.
pub fn parse(text: &str, file: &str) -> Result<Definition, Diagnostic> {
    let options = serde_saphyr::options! { with_snippet: false };
    let definition: Definition =
        serde_saphyr::from_str_with_options(text, options).map_err(|e| diagnose(&e, file))?;
    if definition.version != 1 {
        return Err(Diagnostic {
            code: Code::E006,
            file: file.to_owned(),
            at: At::Path("version".to_owned()),
            message: format!(
                "is {}; this Switchboard reads version 1",
                definition.version
            ),
        });
    }
    Ok(definition)
}

/// A parse failure as a diagnostic, by the error's kind.
fn diagnose(error: &YamlError, file: &str) -> Diagnostic {
    let (code, message) = match error {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => (
            Code::E002,
            format!(
                "unknown key `{field}` (expected one of {})",
                expected.join(", ")
            ),
        ),
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        }
        | YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            Code::E003,
            format!("expected {expected}, found {unexpected}"),
        ),
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => (
            Code::E003,
            format!("`{variant}` is not one of {}", expected.join(", ")),
        ),
        YamlError::SerdeMissingField { field, .. } => {
            (Code::E003, format!("`{field}` is required"))
        }
        YamlError::SerdeInvalidLength { len, expected, .. } => {
            (Code::E003, format!("{len} values, expected {expected}"))
        }
        YamlError::InvalidScalar { ty, .. } => {
            (Code::E003, format!("expected a value of type {ty}"))
        }
        YamlError::Unexpected { expected, .. } => (Code::E003, format!("expected {expected}")),
        YamlError::NullIntoString { .. } => {
            (Code::E003, "expected a string, found null".to_owned())
        }
        YamlError::ExternalMessage { msg, .. } | YamlError::Message { msg, .. } => {
            (Code::E001, msg.clone())
        }
        other => (Code::E001, other.to_string()),
    };
    let at = error.location().map_or(At::File, |l| At::Position {
        line: l.line(),
        column: l.column(),
    });
    Diagnostic {
        code,
        file: file.to_owned(),
        at,
        message,
    }
}

/// What needs the whole definition: every provider, data source and function named exists,
/// resolvers have what their kind needs, and an API has at most one Lambda authorizer.
pub fn check(definition: &Definition, file: &str) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let mut problem = |code, path: String, message: String| {
        problems.push(Diagnostic {
            code,
            file: file.to_owned(),
            at: At::Path(path),
            message,
        })
    };
    let providers = &definition.auth.providers;
    let defined = || listed(providers.keys());
    let mut provider_names: Vec<(String, &str)> = Vec::new();
    if let Some(graphql) = &definition.graphql {
        if let Some(auth) = &graphql.auth {
            provider_names.push(("graphql.auth.default".to_owned(), &auth.default));
            for (n, name) in auth.additional.iter().enumerate() {
                provider_names.push((format!("graphql.auth.additional[{n}]"), name));
            }
            let named = std::iter::once(&auth.default).chain(&auth.additional);
            lambdas(providers, named, "graphql.auth", &mut problem);
        }
        let sources = || listed(graphql.data_sources.keys());
        for (name, function) in &graphql.functions {
            if !graphql.data_sources.contains_key(&function.data_source) {
                let path = format!("graphql.functions.{name}.dataSource");
                let message = format!(
                    "unknown data source `{}` (defined: {})",
                    function.data_source,
                    sources()
                );
                problem(Code::E104, path, message);
            }
        }
        for (field, resolver) in &graphql.resolvers {
            let path = format!("graphql.resolvers.{field}");
            match (resolver.kind, &resolver.data_source) {
                (super::graphql::ResolverKind::Unit, None) => problem(
                    Code::E105,
                    path.clone(),
                    "a UNIT resolver needs a dataSource".to_owned(),
                ),
                (super::graphql::ResolverKind::Pipeline, _) if resolver.functions.is_empty() => {
                    problem(
                        Code::E105,
                        path.clone(),
                        "a PIPELINE resolver needs functions".to_owned(),
                    )
                }
                _ => {}
            }
            if let Some(source) = &resolver.data_source
                && !graphql.data_sources.contains_key(source)
            {
                let message = format!("unknown data source `{source}` (defined: {})", sources());
                problem(Code::E104, format!("{path}.dataSource"), message);
            }
            for function in &resolver.functions {
                if !graphql.functions.contains_key(function) {
                    let message = format!("unknown function `{function}`");
                    problem(Code::E104, format!("{path}.functions"), message);
                }
            }
        }
    }
    if let Some(auth) = definition.events.as_ref().and_then(|e| e.auth.as_ref()) {
        let lists = [
            ("events.auth.providers", &auth.providers),
            ("events.auth.connect", &auth.connect),
            ("events.auth.defaultPublish", &auth.default_publish),
            ("events.auth.defaultSubscribe", &auth.default_subscribe),
        ];
        for (path, names) in lists {
            for (n, name) in names.iter().enumerate() {
                provider_names.push((format!("{path}[{n}]"), name));
            }
        }
        lambdas(
            providers,
            auth.providers.iter(),
            "events.auth",
            &mut problem,
        );
    }
    for (path, name) in provider_names {
        if !providers.contains_key(name) {
            problem(
                Code::E201,
                path,
                format!("unknown provider `{name}` (defined: {})", defined()),
            );
        }
    }
    problems
}

/// `a, b`, or `none` when there is nothing.
fn listed<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// E203 when the providers an API names hold more than one AWS_LAMBDA.
fn lambdas<'a>(
    providers: &std::collections::BTreeMap<String, super::Provider>,
    named: impl Iterator<Item = &'a String>,
    path: &str,
    problem: &mut impl FnMut(Code, String, String),
) {
    let mut names: Vec<&String> = named
        .filter(|name| {
            providers
                .get(*name)
                .is_some_and(|p| p.kind == ProviderType::AwsLambda)
        })
        .collect();
    names.sort();
    names.dedup();
    if names.len() > 1 {
        let listed: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        let message = format!(
            "an API has at most one AWS_LAMBDA provider; this one names {}",
            listed.join(", ")
        );
        problem(Code::E203, path.to_owned(), message);
    }
}
