//! The one access check of AppSync Events: who may hold an Events connection, and who may
//! subscribe or publish to a channel. Every door asks here: the socket's connect, `subscribe`
//! and `publish` (`session::channels`) and `POST /event` (`http::events`). Credentials are
//! verified before (`auth`); this decides what a verified caller may do.

use super::channel::{Channel, ChannelAction};
use super::settings::EventSettings;
use crate::caller::auth_mode::AuthMode;
use crate::caller::identity::Identity;

/// The Events settings the check reads, taken once from the node's.
#[derive(Debug, Clone)]
pub struct ChannelAccess {
    events: EventSettings,
    /// Modes exempt from the owner rule (`--trusted-modes`).
    trusted_modes: Vec<AuthMode>,
    /// The claim naming a caller (`--owner-claim`).
    owner_claim: String,
    /// The group exempt from the owner rule (`--admin-group`).
    admin_group: Option<String>,
}

impl ChannelAccess {
    /// From the Events settings and the GraphQL owner rule's: who is exempt (`trusted_modes`,
    /// `admin_group`) and which claim names a caller.
    pub fn new(
        events: &EventSettings,
        trusted_modes: &[AuthMode],
        owner_claim: &str,
        admin_group: Option<&str>,
    ) -> Self {
        Self {
            events: events.clone(),
            trusted_modes: trusted_modes.to_vec(),
            owner_claim: owner_claim.to_owned(),
            admin_group: admin_group.map(str::to_owned),
        }
    }

    /// Whether `caller` may hold an Events connection: its credentials must be in one of
    /// `--event-connect-modes` (when it names any).
    pub fn may_connect(&self, caller: &Identity) -> bool {
        let modes = &self.events.event_connect_modes;
        modes.is_empty() || modes.contains(&caller.mode)
    }

    /// Whether `caller` may subscribe or publish to `channel`. A namespace may admit only some
    /// auth modes for each action (`--event-namespace-modes`). Then the owner rule
    /// (`--event-owner-segment`): in a bound namespace the bound segment must be the caller's
    /// `--owner-claim` (a wildcard there, or a shorter channel, names no one); the admin group
    /// and `--trusted-modes` are exempt, as for the GraphQL owner rule.
    pub fn may_use(&self, caller: &Identity, channel: &Channel, action: ChannelAction) -> bool {
        if let Some(modes) = self.events.modes_for(channel.namespace(), action)
            && !modes.contains(&caller.mode)
        {
            return false;
        }
        let Some((_, index)) = self
            .events
            .event_owner_segment
            .iter()
            .find(|(namespace, _)| namespace == channel.namespace())
        else {
            return true;
        };
        let admin = self
            .admin_group
            .as_ref()
            .is_some_and(|group| caller.in_group(group));
        if admin || self.trusted_modes.contains(&caller.mode) {
            return true;
        }
        match (
            channel.segments().get(*index),
            caller.claim(&self.owner_claim),
        ) {
            (Some(segment), Some(claim)) => *segment == claim,
            _ => false,
        }
    }
}
