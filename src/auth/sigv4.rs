//! Verifies AWS Signature Version 4 (service `appsync`) for the `iam` auth mode.
//!
//! AppSync IAM clients sign a `POST` to the GraphQL endpoint: the real `POST /graphql` for HTTP;
//! for the WebSocket, a *virtual* request carried in the auth object — `POST <endpoint>/connect`
//! with body `{}` for the connect, `POST <endpoint>` with body = the exact `payload.data` string
//! for each `start` (AppSync's real-time WebSocket client guide, "IAM" authorization). Both sign `accept`,
//! `content-encoding`, `content-type`, `host`, `x-amz-date` and, with temporary credentials,
//! `x-amz-security-token`.
//!
//! Verification does not hand-roll the HMAC chain: it rebuilds the request from exactly the
//! headers the client says it signed, has the maintained `aws-sigv4` signer sign it with the
//! configured secret at the client's `x-amz-date`, and compares the two signatures in constant
//! time. Everything checkable without the secret (scope, service, clock skew, key, session token)
//! is checked first, with its own error, so a refusal can be explained in the log.
//!
//! Nothing here logs or puts in an error message a secret key, a signature or a session token;
//! access key ids, regions, dates and header *names* are not secrets and are reported.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use serde::Deserialize;

use super::constant_time_eq;

/// The only signing name AppSync accepts in a credential scope.
pub const SERVICE: &str = "appsync";
/// The only algorithm AppSync's IAM mode uses (SigV4a's `AWS4-ECDSA-P256-SHA256` is not).
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last component of every SigV4 credential scope.
const SCOPE_TERMINATOR: &str = "aws4_request";
/// Far longer than any real `Authorization` value (a few hundred bytes); refusing bigger ones
/// bounds the work an unauthenticated caller can cause.
const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Likewise for the number of signed headers (AppSync clients sign five to seven).
const MAX_SIGNED_HEADERS: usize = 64;
/// A fixed authority for the URI handed to the signer. The signer only falls back to the URI's
/// authority when no `host` header is given, and we always give the client's own `host`.
const PLACEHOLDER_AUTHORITY: &str = "https://appsync.invalid";

/// Why a credentials file could not be loaded or a request's signature was refused. Messages
/// name access key ids, dates and header names, never a secret, a signature or a session token.
#[derive(Debug, thiserror::Error)]
pub enum SigV4Error {
    #[error("cannot read IAM credentials file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The credentials file is not the expected JSON; the reason never quotes a value from it.
    #[error(
        "invalid IAM credentials file ({0}); expected a JSON array of \
         {{\"accessKeyId\", \"secretAccessKey\", \"sessionToken\"?, \"name\"?}}"
    )]
    CredentialsFile(String),
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// The `Authorization` value is not a SigV4 header; which part is wrong, never the value.
    #[error("malformed SigV4 Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    #[error("the credential scope names service `{0}`, not `appsync`")]
    WrongService(String),
    #[error("the credential scope date {scope} is not the date of x-amz-date {amz_date}")]
    ScopeDateMismatch { scope: String, amz_date: String },
    #[error("malformed x-amz-date header (expected YYYYMMDDTHHMMSSZ)")]
    MalformedDate,
    #[error("x-amz-date {amz_date} is more than {}s away from the server's clock", max_skew.as_secs())]
    Stale {
        amz_date: String,
        max_skew: Duration,
    },
    #[error("unknown access key id {0}")]
    UnknownAccessKey(String),
    #[error("host is not among the signed headers")]
    HostNotSigned,
    #[error("x-amz-date is not among the signed headers")]
    DateNotSigned,
    #[error("signed header {0} is missing from the request")]
    SignedHeaderMissing(String),
    #[error("the session token does not match the one configured for access key id {0}")]
    SessionTokenMismatch(String),
    #[error("access key id {0} is configured with a session token but the request carries none")]
    MissingSessionToken(String),
    #[error("the request carries a session token but access key id {0} is configured without one")]
    UnexpectedSessionToken(String),
    /// The caller handed us something that is not a request path or query string.
    #[error("cannot verify this request: {0}")]
    InvalidRequest(&'static str),
    /// The signer refused the reconstructed request (e.g. a header value with control bytes).
    #[error("cannot recompute the signature: {0}")]
    Signing(String),
    #[error("signature mismatch for access key id {0}")]
    SignatureMismatch(String),
}

/// One entry of the `--iam-credentials` file, as written.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CredentialsEntry {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// What we know about one access key id.
#[derive(Clone)]
struct IamKey {
    secret_access_key: String,
    /// Set for temporary credentials: a request signed with this key must carry exactly this
    /// `x-amz-security-token`, and one carrying a token is refused for a key without one.
    session_token: Option<String>,
    /// A label for logs and for the caller's identity (e.g. "publisher").
    name: Option<String>,
}

/// Access key pairs from `--iam-credentials FILE`: JSON
/// `[{"accessKeyId": "...", "secretAccessKey": "...", "sessionToken"?: "...", "name"?: "publisher"}]`.
///
/// A self-hosted server has no IAM to ask, so the keys it accepts are listed explicitly.
/// `Debug` shows access key ids and names only.
#[derive(Clone)]
pub struct IamCredentials {
    keys: HashMap<String, IamKey>,
}

impl fmt::Debug for IamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<_> = self.keys.iter().collect();
        ids.sort_by(|a, b| a.0.cmp(b.0));
        f.debug_map()
            .entries(ids.into_iter().map(|(id, key)| (id, &key.name)))
            .finish()
    }
}

impl IamCredentials {
    pub fn load(path: &Path) -> Result<Self, SigV4Error> {
        let text = std::fs::read_to_string(path).map_err(|source| SigV4Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text)
    }

    pub fn from_json(text: &str) -> Result<Self, SigV4Error> {
        let entries: Vec<CredentialsEntry> =
            serde_json::from_str(text).map_err(|e| SigV4Error::CredentialsFile(json_reason(&e)))?;
        if entries.is_empty() {
            return Err(SigV4Error::CredentialsFile(
                "no credentials listed".to_owned(),
            ));
        }
        let mut keys = HashMap::with_capacity(entries.len());
        for entry in entries {
            if !is_access_key_id(&entry.access_key_id) {
                return Err(SigV4Error::CredentialsFile(
                    "an accessKeyId is empty or has characters other than letters, digits, `_` and `-`"
                        .to_owned(),
                ));
            }
            if entry.secret_access_key.is_empty() {
                return Err(SigV4Error::CredentialsFile(format!(
                    "the secretAccessKey of {} is empty",
                    entry.access_key_id
                )));
            }
            if entry.session_token.as_deref() == Some("") {
                return Err(SigV4Error::CredentialsFile(format!(
                    "the sessionToken of {} is empty (omit it instead)",
                    entry.access_key_id
                )));
            }
            let key = IamKey {
                secret_access_key: entry.secret_access_key,
                session_token: entry.session_token,
                name: entry.name,
            };
            if keys.insert(entry.access_key_id.clone(), key).is_some() {
                return Err(SigV4Error::CredentialsFile(format!(
                    "access key id {} is listed twice",
                    entry.access_key_id
                )));
            }
        }
        Ok(Self { keys })
    }

    /// How many access keys are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// serde_json's messages quote offending *values* ("invalid type: string \"...\""), which may
/// be secrets; only those that name fields, and the position, are passed on.
fn json_reason(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let names_fields_only = ["unknown field", "missing field", "duplicate field"]
        .iter()
        .any(|prefix| message.starts_with(prefix));
    if names_fields_only {
        message
    } else {
        let what = match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Eof => "unexpected end",
            serde_json::error::Category::Data => "unexpected shape",
        };
        format!("{what} at line {} column {}", e.line(), e.column())
    }
}

/// What a verified signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamCaller {
    pub access_key_id: String,
    /// The `name` of the credentials entry, if it has one.
    pub name: Option<String>,
    /// The region of the credential scope. Any region is accepted: a self-hosted server has no
    /// region of its own, and clients sign for whichever region their config names.
    pub region: String,
}

/// Looks a header up by name, case-insensitively; the first value wins. A closure so the same
/// code serves an HTTP `HeaderMap`, an AppSync auth object, or the merged
/// [`Credentials`](super::Credentials) of a WebSocket.
pub type HeaderLookup<'a> = dyn Fn(&str) -> Option<&'a str> + 'a;

/// One request as signed.
pub struct SignedRequest<'a> {
    /// `POST` for everything AppSync signs.
    pub method: &'a str,
    /// As on the wire (still percent-encoded): `/graphql`, or `/graphql/connect` for the
    /// WebSocket connect.
    pub path: &'a str,
    /// The raw query string without `?`, `""` if none (always `""` for the WebSocket: its
    /// `?header=…&payload=…` is not part of the signed request).
    pub query: &'a str,
    /// The request's headers: those of `POST /graphql`, or the keys of the AppSync auth object
    /// (`Authorization`/`authorization`, `X-Amz-Date`/`x-amz-date`, ...).
    pub header: &'a HeaderLookup<'a>,
    /// The exact body: the POST body; `{}` for connect; the exact `payload.data` for a `start`.
    pub body: &'a [u8],
}

/// The signer's settings for re-signing an AppSync request.
///
/// - URI: `aws-sigv4`'s defaults (normalize the path, then percent-encode it once more, "double
///   encoding") are what every signer does for non-S3 services — botocore's `SigV4Auth`,
///   `@smithy/signature-v4` and Amplify (`uriEscapePath: true`) — so they are kept, explicitly.
/// - Excluded headers: none. The default list (`authorization`, `user-agent`,
///   `x-amzn-trace-id`, `transfer-encoding`) is for a *signer* choosing what to sign; we hand
///   over exactly what the client says it signed (never `authorization`), and if a client did
///   sign `user-agent` it must be part of the canonical request.
/// - Session token: the signer adds `x-amz-security-token` from the credentials; it is signed
///   ([`SessionTokenMode::Include`]) when the client's `SignedHeaders` lists it, which every
///   AppSync client does, and left out otherwise (the token is still compared).
fn signing_settings(token_signed: bool) -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Double;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
    settings.excluded_headers = None;
    settings.session_token_mode = if token_signed {
        SessionTokenMode::Include
    } else {
        SessionTokenMode::Exclude
    };
    settings
}

/// Verifies `request`'s SigV4 signature against `credentials`, at `now`, allowing `x-amz-date`
/// to be up to `max_skew` away from it either way (AppSync: 5 minutes).
pub fn verify(
    credentials: &IamCredentials,
    request: &SignedRequest<'_>,
    now: SystemTime,
    max_skew: Duration,
) -> Result<IamCaller, SigV4Error> {
    let header = request.header;
    let authorization =
        header("authorization").ok_or(SigV4Error::MissingHeader("authorization"))?;
    let auth = parse_authorization(authorization)?;
    if auth.service != SERVICE {
        return Err(SigV4Error::WrongService(auth.service.to_owned()));
    }
    let signs = |name: &str| auth.signed_headers.iter().any(|n| n == name);
    if !signs("host") {
        return Err(SigV4Error::HostNotSigned);
    }
    // The signer always signs x-amz-date; a client that used `date` instead could not match.
    if !signs("x-amz-date") {
        return Err(SigV4Error::DateNotSigned);
    }

    let amz_date = header("x-amz-date").ok_or(SigV4Error::MissingHeader("x-amz-date"))?;
    let signed_at = parse_amz_date(amz_date)?;
    if &amz_date[..8] != auth.date {
        return Err(SigV4Error::ScopeDateMismatch {
            scope: auth.date.to_owned(),
            amz_date: amz_date.to_owned(),
        });
    }
    let skew = now
        .duration_since(signed_at)
        .or_else(|_| signed_at.duration_since(now))
        .unwrap_or(Duration::MAX);
    if skew > max_skew {
        return Err(SigV4Error::Stale {
            amz_date: amz_date.to_owned(),
            max_skew,
        });
    }

    let key = credentials
        .keys
        .get(auth.access_key_id)
        .ok_or_else(|| SigV4Error::UnknownAccessKey(auth.access_key_id.to_owned()))?;
    let token = header("x-amz-security-token");
    match (&key.session_token, token) {
        (Some(expected), Some(presented)) => {
            if !constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
                return Err(SigV4Error::SessionTokenMismatch(
                    auth.access_key_id.to_owned(),
                ));
            }
        }
        (Some(_), None) => {
            return Err(SigV4Error::MissingSessionToken(
                auth.access_key_id.to_owned(),
            ));
        }
        (None, Some(_)) => {
            return Err(SigV4Error::UnexpectedSessionToken(
                auth.access_key_id.to_owned(),
            ));
        }
        (None, None) => {
            if signs("x-amz-security-token") {
                return Err(SigV4Error::SignedHeaderMissing(
                    "x-amz-security-token".to_owned(),
                ));
            }
        }
    }

    // Exactly the signed headers, but x-amz-date and x-amz-security-token: the signer adds
    // those itself, from the time and the credentials we give it.
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        if name == "x-amz-date" || name == "x-amz-security-token" {
            continue;
        }
        let value = header(name).ok_or_else(|| SigV4Error::SignedHeaderMissing(name.clone()))?;
        headers.push((name.as_str(), value));
    }

    if !request.path.starts_with('/') {
        return Err(SigV4Error::InvalidRequest(
            "the path does not start with `/`",
        ));
    }
    if request.path.contains(['?', '#']) || request.query.contains('#') {
        return Err(SigV4Error::InvalidRequest(
            "the path or query has `?` or `#` in it",
        ));
    }
    let uri = if request.query.is_empty() {
        format!("{PLACEHOLDER_AUTHORITY}{}", request.path)
    } else {
        format!("{PLACEHOLDER_AUTHORITY}{}?{}", request.path, request.query)
    };
    let signable = SignableRequest::new(
        request.method,
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|_| SigV4Error::InvalidRequest("the path or query is not a valid URI"))?;

    let identity = aws_credential_types::Credentials::new(
        auth.access_key_id,
        key.secret_access_key.as_str(),
        key.session_token.clone(),
        None,
        "switchboard --iam-credentials",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(SERVICE)
        .time(signed_at)
        .settings(signing_settings(signs("x-amz-security-token")))
        .build()
        .map_err(|e| SigV4Error::Signing(e.to_string()))?
        .into();
    let (instructions, expected) = sign(signable, &params)
        .map_err(|e| SigV4Error::Signing(e.to_string()))?
        .into_parts();

    let presented = auth.signature.to_ascii_lowercase();
    if !constant_time_eq(expected.as_bytes(), presented.as_bytes()) {
        // A differing list explains the mismatch better than "wrong secret"; names only.
        let ours = instructions
            .headers()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| value.split("SignedHeaders=").nth(1))
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_default()
            .to_owned();
        let theirs = auth.signed_headers.join(";");
        if ours != theirs {
            tracing::debug!(
                access_key_id = auth.access_key_id,
                client_signed_headers = %theirs,
                recomputed_signed_headers = %ours,
                "SigV4 signed-header lists differ"
            );
        }
        return Err(SigV4Error::SignatureMismatch(auth.access_key_id.to_owned()));
    }
    Ok(IamCaller {
        access_key_id: auth.access_key_id.to_owned(),
        name: key.name.clone(),
        region: auth.region.to_owned(),
    })
}

/// [`verify`] for what `auth` has at hand: the presented [`Credentials`](super::Credentials)
/// (HTTP headers or an AppSync auth object) and the `POST` they sign.
pub fn verify_credentials(
    credentials: &IamCredentials,
    presented: &super::Credentials,
    path: &str,
    query: &str,
    body: &[u8],
    now: SystemTime,
    max_skew: Duration,
) -> Result<IamCaller, SigV4Error> {
    let header = |name: &str| presented.get(name);
    verify(
        credentials,
        &SignedRequest {
            method: "POST",
            path,
            query,
            header: &header,
            body,
        },
        now,
        max_skew,
    )
}

mod header;
#[cfg(test)]
mod tests;

use header::is_access_key_id;
pub use header::{Authorization, parse_amz_date, parse_authorization};
