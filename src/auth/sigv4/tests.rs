//! SigV4 verification against fixtures from real third-party signers, and every way a request can be wrong.

use super::*;
use serde_json::Value as Json;
use std::time::UNIX_EPOCH;

const BOTOCORE: &str = include_str!("../../../tests/fixtures/sigv4/botocore.json");
const NODE: &str = include_str!("../../../tests/fixtures/sigv4/node.json");
const FIVE_MINUTES: Duration = Duration::from_secs(300);
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE+session/token==";

/// A fixture request, owned so tests can tamper with it.
#[derive(Clone, Debug)]
struct Case {
    name: String,
    path: String,
    query: String,
    body: String,
    /// In the fixture's order and spelling.
    headers: Vec<(String, String)>,
}

impl Case {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
    }

    fn remove(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn authorization(&self) -> String {
        self.get("authorization")
            .expect("fixture is signed")
            .to_owned()
    }

    fn signed_at(&self) -> SystemTime {
        parse_amz_date(self.get("x-amz-date").expect("fixture is dated")).unwrap()
    }

    fn verify_at(&self, iam: &IamCredentials, now: SystemTime) -> Result<IamCaller, SigV4Error> {
        let header = |name: &str| self.get(name);
        verify(
            iam,
            &SignedRequest {
                method: "POST",
                path: &self.path,
                query: &self.query,
                header: &header,
                body: self.body.as_bytes(),
            },
            now,
            FIVE_MINUTES,
        )
    }

    fn verify(&self, iam: &IamCredentials) -> Result<IamCaller, SigV4Error> {
        self.verify_at(iam, self.signed_at())
    }
}

fn load(fixture: &str) -> (IamCredentials, Vec<Case>) {
    let json: Json = serde_json::from_str(fixture).unwrap();
    let iam = IamCredentials::from_json(&json["credentials"].to_string()).unwrap();
    let cases = json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| Case {
            name: case["name"].as_str().unwrap().to_owned(),
            path: case["path"].as_str().unwrap().to_owned(),
            query: case["query"].as_str().unwrap().to_owned(),
            body: case["body"].as_str().unwrap().to_owned(),
            headers: case["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect(),
        })
        .collect();
    (iam, cases)
}

fn case(fixture: &str, name: &str) -> (IamCredentials, Case) {
    let (iam, cases) = load(fixture);
    let case = cases.into_iter().find(|c| c.name == name).unwrap();
    (iam, case)
}

/// Every message we produce is checked for the secrets of the fixtures.
fn assert_discreet(error: &SigV4Error, case: &Case) {
    let message = format!("{error} {error:?}");
    let mut secrets = vec![SECRET, "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", TOKEN];
    let authorization = case.get("authorization").unwrap_or_default();
    if let Some((_, signature)) = authorization.split_once("Signature=") {
        let signature = signature.get(..16).unwrap_or(signature);
        if signature.len() == 16 {
            secrets.push(signature);
        }
    }
    for secret in secrets {
        assert!(!message.contains(secret), "{message} leaks a secret");
    }
}

fn expect_err(case: &Case, iam: &IamCredentials) -> SigV4Error {
    let error = case.verify(iam).expect_err(&case.name);
    assert_discreet(&error, case);
    error
}

#[test]
fn botocore_fixtures_verify() {
    let (iam, cases) = load(BOTOCORE);
    assert_eq!(cases.len(), 6);
    for case in &cases {
        let caller = case
            .verify(&iam)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(caller.region, "us-east-1");
        if case.get("X-Amz-Security-Token").is_some() {
            assert_eq!(caller.access_key_id, "ASIAEXAMPLETEMPORARY");
            assert_eq!(caller.name.as_deref(), Some("temporary"));
        } else {
            assert_eq!(caller.access_key_id, "AKIDEXAMPLE");
            assert_eq!(caller.name.as_deref(), Some("publisher"));
        }
    }
    // botocore's mixed case is what the fixtures exercise.
    assert!(cases[0].headers.iter().any(|(n, _)| n == "X-Amz-Date"));
}

#[test]
fn node_fixtures_verify() {
    let (iam, cases) = load(NODE);
    for prefix in ["smithy_", "amplify_", "auth_link_"] {
        assert_eq!(
            cases.iter().filter(|c| c.name.starts_with(prefix)).count(),
            5
        );
    }
    for case in &cases {
        case.verify(&iam)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
    // Amplify: all lower-case names; smithy also signs x-amz-content-sha256.
    let amplify = cases
        .iter()
        .find(|c| c.name == "amplify_connect_session_token")
        .unwrap();
    assert!(
        amplify
            .headers
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase())
    );
    let smithy = cases.iter().find(|c| c.name == "smithy_start").unwrap();
    assert!(smithy.authorization().contains("x-amz-content-sha256"));
}

#[test]
fn http_header_map_lookup() {
    let (iam, case) = case(BOTOCORE, "post_graphql");
    let mut map = axum::http::HeaderMap::new();
    for (name, value) in &case.headers {
        map.append(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let header = |name: &str| map.get(name).and_then(|v| v.to_str().ok());
    let request = SignedRequest {
        method: "POST",
        path: "/graphql",
        query: "",
        header: &header,
        body: case.body.as_bytes(),
    };
    verify(&iam, &request, case.signed_at(), FIVE_MINUTES).unwrap();
}

#[test]
fn credentials_wrapper_reads_an_auth_object() {
    let (iam, case) = case(NODE, "amplify_start_session_token");
    let object: serde_json::Map<String, Json> = case
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect();
    let presented = super::super::Credentials::from_json(&Json::Object(object)).unwrap();
    let caller = verify_credentials(
        &iam,
        &presented,
        "/graphql",
        "",
        case.body.as_bytes(),
        case.signed_at(),
        FIVE_MINUTES,
    )
    .unwrap();
    assert_eq!(caller.access_key_id, "ASIAEXAMPLETEMPORARY");
    // The same object against the connect's request must fail.
    let wrong = verify_credentials(
        &iam,
        &presented,
        "/graphql/connect",
        "",
        b"{}",
        case.signed_at(),
        FIVE_MINUTES,
    );
    assert!(matches!(wrong, Err(SigV4Error::SignatureMismatch(_))));
}

#[test]
fn authorization_spacing_variants_are_accepted() {
    let (iam, case) = case(BOTOCORE, "connect");
    let original = case.authorization();
    let (algorithm, rest) = original.split_once(' ').unwrap();
    let parts: Vec<&str> = rest.split(", ").collect();
    let variants = [
        format!("{algorithm} {}", parts.join(",")),
        format!("{algorithm}   {}  ", parts.join(" ,  ")),
        format!("{algorithm}\t{}", parts.join(",\t")),
        format!("{algorithm} {}, {}, {}", parts[2], parts[0], parts[1]),
        format!(
            "{algorithm} {}",
            parts.join(", ").replace(
                &parts[2]["Signature=".len()..],
                &parts[2]["Signature=".len()..].to_ascii_uppercase(),
            )
        ),
    ];
    for variant in variants {
        let mut tweaked = case.clone();
        tweaked.set("Authorization", &variant);
        tweaked
            .verify(&iam)
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
    }
}

fn case_with_token() -> (IamCredentials, Case) {
    case(BOTOCORE, "connect_session_token")
}

#[test]
fn credentials_file_is_validated_without_echoing_secrets() {
    let iam = IamCredentials::from_json(
        r#"[{"accessKeyId": "AKID1", "secretAccessKey": "s1", "name": "one"},
            {"accessKeyId": "AKID2", "secretAccessKey": "s2", "sessionToken": "t2"}]"#,
    )
    .unwrap();
    assert_eq!(iam.len(), 2);
    let debug = format!("{iam:?}");
    assert!(
        debug.contains("AKID1") && !debug.contains("s1") && !debug.contains("t2"),
        "{debug}"
    );

    let refused = [
        "[]",
        "{}",
        r#""AKID:very-secret-value""#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": 12345678}]"#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": "very-secret-value", "extra": 1}]"#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": "very-secret-value", "sessionToken": ""}]"#,
        r#"[{"accessKeyId": "AKID"}]"#,
        r#"[{"accessKeyId": "AK/ID", "secretAccessKey": "very-secret-value"}]"#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": ""}]"#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": "a"}, {"accessKeyId": "AKID", "secretAccessKey": "b"}]"#,
        r#"[{"accessKeyId": "AKID", "secretAccessKey": "very-secret-value""#,
    ];
    for text in refused {
        let error = IamCredentials::from_json(text).expect_err(text);
        assert!(matches!(error, SigV4Error::CredentialsFile(_)), "{text}");
        let message = error.to_string();
        assert!(
            !message.contains("very-secret-value") && !message.contains("12345678"),
            "{message}"
        );
    }
    let error = IamCredentials::load(Path::new("/nonexistent/iam.json")).unwrap_err();
    assert!(matches!(error, SigV4Error::Read { .. }));
}

#[test]
fn aws_sigv4_signed_requests_verify_too() {
    aws_sigv4_round_trip(SigningSettings::default());
    // A client that signs user-agent too (the default settings exclude it).
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    let case = aws_sigv4_round_trip(settings);
    assert!(case.authorization().contains(";user-agent"));
    let mut tampered = case.clone();
    tampered.set("user-agent", "y");
    let iam = IamCredentials::from_json(&format!(
        r#"[{{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "{SECRET}"}}]"#
    ))
    .unwrap();
    assert!(matches!(
        expect_err(&tampered, &iam),
        SigV4Error::SignatureMismatch(_)
    ));
}

fn aws_sigv4_round_trip(settings: SigningSettings) -> Case {
    // Our own signer, with the settings a client would use (defaults), as a third witness.
    let iam = IamCredentials::from_json(&format!(
        r#"[{{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "{SECRET}"}}]"#
    ))
    .unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(1_736_944_496);
    let identity =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("eu-west-2")
        .name("appsync")
        .time(at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let headers = [
        ("host", "api.example.com"),
        ("content-type", "application/json"),
        ("user-agent", "x"),
    ];
    let body = br#"{"query":"{ hello }"}"#;
    let signable = SignableRequest::new(
        "POST",
        "https://api.example.com/graphql?a=b%20c",
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    all.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let case = Case {
        name: "aws-sigv4".to_owned(),
        path: "/graphql".to_owned(),
        query: "a=b%20c".to_owned(),
        body: String::from_utf8(body.to_vec()).unwrap(),
        headers: all,
    };
    let caller = case.verify(&iam).unwrap();
    assert_eq!(caller.region, "eu-west-2");
    assert_eq!(caller.name, None);
    case
}

#[test]
fn constant_time_eq_compares() {
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
    assert!(constant_time_eq(b"", b""));
}

/// Each way a signature can be wrong, and that the refusal never quotes it.
mod refusals;
