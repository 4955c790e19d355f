//! The arguments of the CLI's commands (`publish`, `subscribe`, `amplify-config`, `schema`,
//! `api`), as `main.rs` parses them: kept here so that the binary stays the dispatch.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::auth::AuthMode;

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Print the definition file's JSON Schema (for editors: `docs/switchboard.schema.json`).
    Schema,
    /// Check a definition file (YAML or JSON): each problem as `FILE:LINE:COLUMN: error[CODE]: …`
    /// (or at its path in the model), exit 1 on any.
    Check {
        /// The definition file.
        #[arg(default_value = "switchboard.yaml")]
        file: PathBuf,
    },
    /// Print the effective definition (references expanded, secrets redacted) as YAML, or
    /// JSON with `--json`.
    Print {
        /// The definition file.
        #[arg(default_value = "switchboard.yaml")]
        file: PathBuf,
        /// JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct AmplifyConfigArgs {
    /// The server's GraphQL endpoint, as the app reaches it (`https://` with a certificate).
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://localhost:4000/graphql"
    )]
    pub url: String,
    /// The API key the app sends (else `SWITCHBOARD_CLIENT_API_KEY`, else the first of
    /// `SWITCHBOARD_API_KEY`); without one the file has no `api_key`.
    #[arg(long, env = "SWITCHBOARD_CLIENT_API_KEY")]
    pub api_key: Option<String>,
    /// The server's default auth mode (`serve --auth-default`).
    #[arg(long, env = "SWITCHBOARD_AUTH_DEFAULT", default_value = "api-key")]
    pub auth_default: AuthMode,
    /// Where to write it (`amplify_outputs.json`); standard output when absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum SchemaCommand {
    /// Check that an SDL file can be served and print its routes, history queries and auth
    /// rules; an error is printed as FILE:LINE:COLUMN and exits with 1.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The SDL file; the embedded status schema when absent.
    pub file: Option<PathBuf>,
    /// The auth mode of fields without auth directives, as `serve` takes it.
    #[arg(long, env = "SWITCHBOARD_AUTH_DEFAULT", default_value = "api-key")]
    pub auth_default: AuthMode,
    /// A rules file (`serve --rules`): checked against the schema, its filters and
    /// invalidations listed.
    #[arg(long, env = "SWITCHBOARD_RULES")]
    pub rules: Option<PathBuf>,
}

#[derive(Args)]
pub struct Target {
    /// The server's GraphQL endpoint.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:4000/graphql"
    )]
    pub url: String,
    /// The API key to send as `x-api-key` (else `SWITCHBOARD_CLIENT_API_KEY`, else the first of
    /// the server's `SWITCHBOARD_API_KEY`, so one export serves both).
    #[arg(long, env = "SWITCHBOARD_CLIENT_API_KEY")]
    pub api_key: Option<String>,
    /// A CA certificate (PEM) to trust for `https://` and `wss://`, besides the system's: a
    /// local server's `--tls-self-signed DIR/ca.pem`.
    #[arg(long, env = "SWITCHBOARD_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl Target {
    /// The server as the CLI reaches it; the key from `--api-key`, else the environment.
    pub fn endpoint(self) -> Result<super::Endpoint, String> {
        let tls = crate::net::http_client::cli_tls(self.ca_file.as_deref())?;
        let api_key = self
            .api_key
            .or_else(server_api_key)
            .filter(|key| !key.is_empty())
            .ok_or_else(|| {
                "no API key: pass --api-key KEY (the key `serve` printed or was given), or set \
                 SWITCHBOARD_CLIENT_API_KEY or SWITCHBOARD_API_KEY"
                    .to_owned()
            })?;
        Ok(super::Endpoint {
            url: self.url,
            api_key,
            tls,
        })
    }
}

/// The first of the server's keys (`SWITCHBOARD_API_KEY`, comma-separated, each maybe
/// `KEY@EXPIRY`), so one export serves the server and the CLI.
pub fn server_api_key() -> Option<String> {
    let keys = std::env::var("SWITCHBOARD_API_KEY").ok()?;
    let first = keys.split(',').next()?;
    Some(
        first
            .split_once('@')
            .map_or(first, |(key, _)| key)
            .to_owned(),
    )
}

#[derive(Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub target: Target,
    /// Any mutation (or query) of the served schema, instead of a status: prints its `data`.
    #[arg(long, conflicts_with_all = ["user_id", "job_id", "status", "channel"])]
    pub query: Option<String>,
    /// The variables of `--query`, as a JSON object.
    #[arg(long, requires = "query", value_parser = json_object)]
    pub variables: Option<serde_json::Value>,
    /// The user whose subscribers receive the status.
    #[arg(long, required_unless_present_any = ["channel", "query"])]
    pub user_id: Option<String>,
    /// The job the status belongs to.
    #[arg(long, required_unless_present_any = ["channel", "query"])]
    pub job_id: Option<String>,
    /// loading_agents, invoking_<agent>, calling_<tool>, agent_complete_<agent>, validating,
    /// synthesizing, complete or error.
    #[arg(long, required_unless_present_any = ["channel", "query"])]
    pub status: Option<String>,
    /// Publish AppSync Events to this channel (`/default/jobs`) instead of a status; prints
    /// the `successful` and `failed` lists.
    #[arg(long, conflicts_with_all = ["user_id", "job_id", "status"])]
    pub channel: Option<String>,
    /// An event for `--channel`, as JSON (repeat for up to five).
    #[arg(long = "event", requires = "channel")]
    pub events: Vec<String>,
    /// The agent reporting it (`geo_agent`).
    #[arg(long)]
    pub agent_name: Option<String>,
    /// A human-readable detail (why a job failed, say).
    #[arg(long)]
    pub message: Option<String>,
    /// Makes retries safe: a publish repeated with the same key within the server's
    /// `--idempotency-ttl` gets the first answer and publishes nothing new.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Args)]
pub struct SubscribeArgs {
    #[command(flatten)]
    pub target: Target,
    /// Any subscription of the served schema (`subscription { onCreateTodo { id title } }`),
    /// instead of a user's statuses: prints each response's `data`.
    #[arg(long, conflicts_with_all = ["user_id", "channel"])]
    pub query: Option<String>,
    /// The variables of `--query`, as a JSON object.
    #[arg(long, requires = "query", value_parser = json_object)]
    pub variables: Option<serde_json::Value>,
    /// The WebSocket protocol to subscribe over.
    #[arg(
        long,
        value_enum,
        default_value = "transport-ws",
        conflicts_with = "channel"
    )]
    pub protocol: super::subscribe::Wire,
    /// The user whose statuses to print.
    #[arg(long, required_unless_present_any = ["channel", "query"])]
    pub user_id: Option<String>,
    /// Print the AppSync Events of this channel (`/default/jobs/*`) instead, one JSON line each.
    #[arg(long, conflicts_with = "user_id")]
    pub channel: Option<String>,
    /// Exit after this many statuses.
    #[arg(long)]
    pub count: Option<usize>,
    /// Print each status with its position (`{"epoch","offset","status"}`; for `--channel`,
    /// `{"epoch","offset","event"}`); with a position (`EPOCH:OFFSET`, as printed), first every
    /// kept one after it.
    #[arg(long, num_args = 0..=1, default_missing_value = "", value_name = "EPOCH:OFFSET", value_parser = super::ResumeFrom::parse)]
    pub resume: Option<super::ResumeFrom>,
}

/// `--variables`: a JSON object.
pub fn json_object(text: &str) -> Result<serde_json::Value, String> {
    match serde_json::from_str(text) {
        Ok(value @ serde_json::Value::Object(_)) => Ok(value),
        Ok(_) => Err("must be a JSON object, like '{\"id\": \"1\"}'".to_owned()),
        Err(error) => Err(format!("is not JSON: {error}")),
    }
}
