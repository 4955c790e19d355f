//! The settings of AppSync Events: channel namespaces, the GraphQL bridge, owner-bound channels
//! and the limits. Flattened into `config::Settings`.

use clap::Args;

use super::bridge::Bridge;
use super::channel::ChannelAction;
use crate::caller::auth_mode::AuthMode;

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
    #[arg(hide_short_help = true, help_heading = "Events", long, env = "SWITCHBOARD_EVENT_BRIDGE", value_delimiter = ',', value_parser = Bridge::parse)]
    pub event_bridge: Vec<Bridge>,

    /// Namespaces whose channels name their owner: `status=1` makes the segment after
    /// `/status/` the caller's `--owner-claim`, for subscribing and publishing (the admin group
    /// and `--trusted-modes` are exempt).
    #[arg(hide_short_help = true, help_heading = "Events", long, env = "SWITCHBOARD_EVENT_OWNER_SEGMENT", value_delimiter = ',', value_parser = parse_owner_segment)]
    pub event_owner_segment: Vec<(String, usize)>,

    /// The auth modes that may subscribe and publish in a namespace: `status=oidc+cognito` for
    /// both, `status:publish=iam` or `status:subscribe=oidc` for one (it wins over both);
    /// `*` names every namespace not named itself. A namespace none of them names takes every
    /// mode the API accepts.
    #[arg(hide_short_help = true, help_heading = "Events", long, env = "SWITCHBOARD_EVENT_NAMESPACE_MODES", value_delimiter = ',', value_parser = NamespaceModes::parse)]
    pub event_namespace_modes: Vec<NamespaceModes>,

    /// The auth modes that may open an AppSync Events connection (`api-key,oidc`); none named:
    /// every mode the API accepts. Each subscribe and publish is then checked against its
    /// namespace.
    #[arg(
        hide_short_help = true,
        help_heading = "Events",
        long,
        env = "SWITCHBOARD_EVENT_CONNECT_MODES",
        value_delimiter = ','
    )]
    pub event_connect_modes: Vec<AuthMode>,

    /// Largest AppSync Events event, in bytes (AppSync: 240 KB); a larger one is reported in the
    /// publish's `failed` list.
    #[arg(hide_short_help = true, help_heading = "Events", long, env = "SWITCHBOARD_MAX_EVENT_BYTES", default_value_t = 240 * 1024)]
    pub max_event_bytes: usize,

    /// Channel subscriptions per AppSync Events connection (AppSync: 200).
    #[arg(
        hide_short_help = true,
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

/// The auth modes a namespace admits, for one action or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceModes {
    /// A namespace, or `*` for every namespace not named itself.
    pub namespace: String,
    /// `None`: subscribe and publish alike.
    pub action: Option<ChannelAction>,
    pub modes: Vec<AuthMode>,
}

impl NamespaceModes {
    /// Parses `NAMESPACE[:ACTION]=MODE+MODE` (`status=oidc+cognito`, `status:publish=iam`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (target, modes) = text.split_once('=').ok_or_else(|| {
            format!(
                "`{text}` is not NAMESPACE[:publish|:subscribe]=MODE+MODE, like status=oidc+cognito"
            )
        })?;
        let (namespace, action) = match target.split_once(':') {
            None => (target, None),
            Some((namespace, "publish")) => (namespace, Some(ChannelAction::Publish)),
            Some((namespace, "subscribe")) => (namespace, Some(ChannelAction::Subscribe)),
            Some((_, other)) => {
                return Err(format!("`{other}` is not `publish` or `subscribe`"));
            }
        };
        Ok(Self {
            namespace: namespace.to_owned(),
            action,
            modes: parse_modes(modes)?,
        })
    }
}

impl EventSettings {
    /// The modes that may do `action` in `namespace`, from the most specific entry: the
    /// namespace and action, the namespace, `*` and action, `*`. `None`: every mode.
    pub fn modes_for(&self, namespace: &str, action: ChannelAction) -> Option<&[AuthMode]> {
        let entries = &self.event_namespace_modes;
        let find = |name: &str, action: Option<ChannelAction>| {
            entries
                .iter()
                .find(|e| e.namespace == name && e.action == action)
        };
        find(namespace, Some(action))
            .or_else(|| find(namespace, None))
            .or_else(|| find("*", Some(action)))
            .or_else(|| find("*", None))
            .map(|entry| entry.modes.as_slice())
    }
}

/// Parses `MODE+MODE` (`oidc+cognito`).
fn parse_modes(text: &str) -> Result<Vec<AuthMode>, String> {
    text.split('+').map(str::parse).collect()
}
