//! The settings of AppSync Events: channel namespaces, the GraphQL bridge, owner-bound channels
//! and the limits. Flattened into [`super::Settings`].

use clap::Args;

use crate::auth_mode::AuthMode;
use crate::events::bridge::Bridge;

#[derive(Debug, Clone, Args)]
pub struct EventSettings {
    /// AppSync Events channel namespaces (the first segment of a channel); a channel in another
    /// is refused.
    #[arg(
        help_heading = "Events",
        long,
        env = "SWITCHBOARD_EVENT_NAMESPACES",
        value_delimiter = ',',
        default_value = "default"
    )]
    pub event_namespaces: Vec<String>,

    /// Mutations whose results are also published to an AppSync Events channel:
    /// `publishStatus=/status/{userId}/{jobId}` (fields of the result in braces).
    #[arg(help_heading = "Events", long, env = "SWITCHBOARD_EVENT_BRIDGE", value_delimiter = ',', value_parser = Bridge::parse)]
    pub event_bridge: Vec<Bridge>,

    /// Namespaces whose channels name their owner: `status=1` makes the segment after
    /// `/status/` the caller's `--owner-claim`, for subscribing and publishing (the admin group
    /// and `--trusted-modes` are exempt).
    #[arg(help_heading = "Events", long, env = "SWITCHBOARD_EVENT_OWNER_SEGMENT", value_delimiter = ',', value_parser = parse_owner_segment)]
    pub event_owner_segment: Vec<(String, usize)>,

    /// The auth modes that may subscribe and publish in a namespace: `status=oidc+cognito`
    /// (comma-separated, one per namespace); a namespace not named takes every mode the API
    /// accepts.
    #[arg(help_heading = "Events", long, env = "SWITCHBOARD_EVENT_NAMESPACE_MODES", value_delimiter = ',', value_parser = parse_namespace_modes)]
    pub event_namespace_modes: Vec<(String, Vec<AuthMode>)>,

    /// Largest AppSync Events event, in bytes (AppSync: 240 KB); a larger one is reported in the
    /// publish's `failed` list.
    #[arg(help_heading = "Events", long, env = "SWITCHBOARD_MAX_EVENT_BYTES", default_value_t = 240 * 1024)]
    pub max_event_bytes: usize,

    /// Channel subscriptions per AppSync Events connection (AppSync: 200).
    #[arg(
        help_heading = "Events",
        long,
        env = "SWITCHBOARD_MAX_EVENT_SUBSCRIPTIONS",
        default_value_t = 200
    )]
    pub max_event_subscriptions: usize,
}

/// Parses `NAMESPACE=INDEX` (the segment, counting the namespace as 0, that names the owner).
pub fn parse_owner_segment(text: &str) -> Result<(String, usize), String> {
    let (namespace, index) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAMESPACE=SEGMENT, like status=1"))?;
    match index.parse::<usize>() {
        Ok(index) if index >= 1 => Ok((namespace.to_owned(), index)),
        _ => Err(format!(
            "`{index}` is not a segment after the namespace (1 to 4)"
        )),
    }
}

/// Parses `NAMESPACE=MODE+MODE` (`status=oidc+cognito`).
pub fn parse_namespace_modes(text: &str) -> Result<(String, Vec<AuthMode>), String> {
    let (namespace, modes) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not NAMESPACE=MODE+MODE, like status=oidc+cognito"))?;
    let modes = modes
        .split('+')
        .map(str::parse)
        .collect::<Result<Vec<AuthMode>, String>>()?;
    Ok((namespace.to_owned(), modes))
}
