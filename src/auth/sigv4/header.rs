//! Reading the SigV4 parts a client sends: the `Authorization` header (`Credential=…,
//! SignedHeaders=…, Signature=…`) and `x-amz-date`, strictly and within bounds, before anything
//! is verified.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ALGORITHM, MAX_AUTHORIZATION_LEN, MAX_SIGNED_HEADERS, SCOPE_TERMINATOR, SigV4Error};

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
/// Public for the fuzz targets (`fuzz/`), as the type [`parse_authorization`] returns.
#[derive(Debug)]
pub struct Authorization<'h> {
    pub(super) access_key_id: &'h str,
    /// `yyyymmdd`, from the credential scope.
    pub(super) date: &'h str,
    pub(super) region: &'h str,
    pub(super) service: &'h str,
    /// Lower-cased, in the client's order.
    pub(super) signed_headers: Vec<String>,
    /// 64 hex digits, as sent.
    pub(super) signature: &'h str,
}

/// Parses the `Authorization` value. Tolerant of the separators signers differ on: botocore,
/// Amplify, aws-sdk-js and aws-sigv4 write `, ` between components, the AWS docs sometimes `,`,
/// hand-written ones extra spaces; no component value can contain `,` or whitespace, so any run
/// of them separates. Components may come in any order; each must appear exactly once.
/// Public for the fuzz targets (`fuzz/`).
pub fn parse_authorization(value: &str) -> Result<Authorization<'_>, SigV4Error> {
    use SigV4Error::MalformedAuthorization as Malformed;
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(Malformed("too long"));
    }
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .ok_or(Malformed("not an AWS4-HMAC-SHA256 signature"))?;
    if algorithm != ALGORITHM {
        return Err(Malformed("not an AWS4-HMAC-SHA256 signature"));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|c| !c.is_empty())
    {
        let (key, component_value) = component
            .split_once('=')
            .ok_or(Malformed("a component is not `Name=value`"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(Malformed(
                    "unknown component (expected Credential, SignedHeaders, Signature)",
                ));
            }
        };
        if slot.replace(component_value).is_some() {
            return Err(Malformed("a component appears twice"));
        }
    }
    let credential = credential.ok_or(Malformed("no Credential"))?;
    let signed_headers = signed_headers.ok_or(Malformed("no SignedHeaders"))?;
    let signature = signature.ok_or(Malformed("no Signature"))?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(Malformed(
            "Credential is not access-key-id/yyyymmdd/region/service/aws4_request",
        ));
    };
    if !is_access_key_id(access_key_id) {
        return Err(Malformed("the access key id has unexpected characters"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed("the credential scope date is not yyyymmdd"));
    }
    let is_scope_word = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !is_scope_word(region) {
        return Err(Malformed(
            "the credential scope region has unexpected characters",
        ));
    }
    if !is_scope_word(service) {
        return Err(Malformed(
            "the credential scope service has unexpected characters",
        ));
    }
    if terminator != SCOPE_TERMINATOR {
        return Err(Malformed(
            "the credential scope does not end in aws4_request",
        ));
    }

    let signed_headers: Vec<String> = signed_headers
        .split(';')
        .map(|name| name.to_ascii_lowercase())
        .collect();
    if signed_headers.len() > MAX_SIGNED_HEADERS {
        return Err(Malformed("too many SignedHeaders"));
    }
    if !signed_headers.iter().all(|name| is_header_name(name)) {
        return Err(Malformed(
            "SignedHeaders has an empty or invalid header name",
        ));
    }
    if signed_headers.iter().any(|name| name == "authorization") {
        return Err(Malformed("SignedHeaders lists authorization"));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Malformed("Signature is not 64 hex digits"));
    }
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Letters, digits, `_`, `-`: real ids are upper-case alphanumerics, and anything else could
/// not be told apart from the `/` and `,` around it in a credential scope.
pub(super) fn is_access_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// An RFC 9110 token, lower-case.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

/// Parses `x-amz-date` (`YYYYMMDDTHHMMSSZ`, UTC). The shape is checked byte by byte first:
/// chrono's parser alone would accept signs and other widths.
/// Public for the fuzz targets (`fuzz/`).
pub fn parse_amz_date(value: &str) -> Result<SystemTime, SigV4Error> {
    let bytes = value.as_bytes();
    let shaped = bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit);
    if !shaped {
        return Err(SigV4Error::MalformedDate);
    }
    let time = chrono::NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%SZ")
        .map_err(|_| SigV4Error::MalformedDate)?;
    let seconds =
        u64::try_from(time.and_utc().timestamp()).map_err(|_| SigV4Error::MalformedDate)?;
    Ok(UNIX_EPOCH + Duration::from_secs(seconds))
}
