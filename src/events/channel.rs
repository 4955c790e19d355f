//! AppSync Events channels: `/namespace/segment/…`, 1 to 5 segments of at most 50 characters
//! (`[A-Za-z0-9-]`, no leading or trailing dash), the leading slash optional, the first segment a
//! configured namespace. A subscription may end in `/*`: every channel below that prefix, at any
//! depth (as LocalStack's transcripts show AppSync doing; `/default/*` does not match `/default`).
//!
//! Routing stays indexed: a channel is a topic key of its own, a wildcard subscription the key of
//! its prefix with `/*`, and a publish goes to its channel's key and to the wildcard key of each
//! of its proper prefixes: at most five lookups, whatever the number of subscribers.

/// Segments a channel may have.
pub const MAX_SEGMENTS: usize = 5;
/// Characters a segment may have.
pub const MAX_SEGMENT: usize = 50;

/// What a caller does with a channel: its auth modes and the Lambda authorizer's `operation`
/// depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelAction {
    Subscribe,
    Publish,
}

impl ChannelAction {
    /// The name in settings (`status:publish=iam`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Publish => "publish",
        }
    }
}

/// A checked channel: its segments, and whether it ends in the `/*` wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    segments: Vec<String>,
    wildcard: bool,
}

/// Why a channel is refused; the texts are the answer the client gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("Invalid channel `{0}`: a channel is 1 to 5 segments of letters, digits and dashes")]
    Malformed(String),
    #[error("Invalid channel `{0}`: at most {MAX_SEGMENTS} segments")]
    TooManySegments(String),
    #[error("Invalid channel `{0}`: a segment is at most {MAX_SEGMENT} characters")]
    SegmentTooLong(String),
    #[error("Invalid channel `{0}`: a wildcard is only for subscribing, as the last segment `/*`")]
    Wildcard(String),
    #[error("Channel namespace `{0}` does not exist")]
    UnknownNamespace(String),
}

impl Channel {
    /// Parses `text`; `subscribe` allows a trailing `/*`. The namespace must be one of
    /// `namespaces`.
    pub fn parse(text: &str, subscribe: bool, namespaces: &[String]) -> Result<Self, ChannelError> {
        let malformed = || ChannelError::Malformed(text.to_owned());
        let path = text.strip_prefix('/').unwrap_or(text);
        let (path, wildcard) = match path.strip_suffix("/*") {
            Some(prefix) => (prefix, true),
            None => (path, false),
        };
        if wildcard && !subscribe || path.contains('*') {
            return Err(ChannelError::Wildcard(text.to_owned()));
        }
        let segments: Vec<&str> = path.split('/').collect();
        if segments.len() > MAX_SEGMENTS {
            return Err(ChannelError::TooManySegments(text.to_owned()));
        }
        for segment in &segments {
            if segment.len() > MAX_SEGMENT {
                return Err(ChannelError::SegmentTooLong(text.to_owned()));
            }
            let good = !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !segment.starts_with('-')
                && !segment.ends_with('-');
            if !good {
                return Err(malformed());
            }
        }
        let namespace = segments[0];
        if !namespaces.iter().any(|n| n == namespace) {
            return Err(ChannelError::UnknownNamespace(namespace.to_owned()));
        }
        Ok(Self {
            segments: segments.into_iter().map(str::to_owned).collect(),
            wildcard,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.segments[0]
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The channel as written canonically: `/a/b`, or `/a/*` for a wildcard.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            path.push_str(segment);
        }
        if self.wildcard {
            path.push_str("/*");
        }
        path
    }

    /// The topic key a subscription to this channel is filed under.
    pub fn topic(&self) -> String {
        format!("event:{}", self.path())
    }

    /// The topic keys a publish to this (exact) channel goes to: its own, and the wildcard of
    /// each proper prefix.
    pub fn publish_topics(&self) -> Vec<String> {
        publish_topics(&self.path())
    }
}

/// [`Channel::publish_topics`] of a channel already checked, by its path (`/a/b`): what the bus
/// computes for an event that carries it.
pub fn publish_topics(path: &str) -> Vec<String> {
    let mut topics = vec![format!("event:{path}")];
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut prefix = String::new();
    for segment in &segments[..segments.len().saturating_sub(1)] {
        prefix.push('/');
        prefix.push_str(segment);
        topics.push(format!("event:{prefix}/*"));
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces() -> Vec<String> {
        vec!["default".to_owned(), "status".to_owned()]
    }

    fn parse(text: &str, subscribe: bool) -> Result<Channel, ChannelError> {
        Channel::parse(text, subscribe, &namespaces())
    }

    #[test]
    fn channels_and_their_topics() {
        let channel = parse("default/users/A", false).unwrap();
        assert_eq!(channel.path(), "/default/users/A");
        assert_eq!(
            channel.publish_topics(),
            [
                "event:/default/users/A",
                "event:/default/*",
                "event:/default/users/*"
            ]
        );
        let wildcard = parse("/default/users/*", true).unwrap();
        assert!(wildcard.is_wildcard());
        assert_eq!(wildcard.topic(), "event:/default/users/*");
        assert!(channel.publish_topics().contains(&wildcard.topic()));
        assert_eq!(
            parse("/default", false).unwrap().publish_topics(),
            ["event:/default"]
        );
        let long = format!("/default/{}", "a".repeat(50));
        assert!(parse(&long, false).is_ok());
    }

    #[test]
    fn bad_channels_are_refused() {
        let long = format!("/default/{}", "a".repeat(51));
        for (text, subscribe, expected) in [
            (
                "/nope/x",
                false,
                ChannelError::UnknownNamespace("nope".into()),
            ),
            (
                "/default/a/b/c/d/e",
                false,
                ChannelError::TooManySegments("/default/a/b/c/d/e".into()),
            ),
            (
                long.as_str(),
                false,
                ChannelError::SegmentTooLong(long.clone()),
            ),
            (
                "/default/*",
                false,
                ChannelError::Wildcard("/default/*".into()),
            ),
            (
                "/default/a*b",
                true,
                ChannelError::Wildcard("/default/a*b".into()),
            ),
            (
                "/default//a",
                false,
                ChannelError::Malformed("/default//a".into()),
            ),
            (
                "/default/-a",
                false,
                ChannelError::Malformed("/default/-a".into()),
            ),
            (
                "/default/a_b",
                false,
                ChannelError::Malformed("/default/a_b".into()),
            ),
            ("", false, ChannelError::Malformed("".into())),
        ] {
            assert_eq!(parse(text, subscribe), Err(expected), "{text}");
        }
    }
}
