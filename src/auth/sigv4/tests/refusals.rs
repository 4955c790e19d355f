//! Signatures that must be refused: wrong secret, tampered request, stale date, bad scope,
//! malformed header, mismatched session token.

use super::*;

#[test]
fn wrong_secret_is_refused() {
    let (_, case) = case(BOTOCORE, "post_graphql");
    let iam = IamCredentials::from_json(
        r#"[{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "not-the-secret"}]"#,
    )
    .unwrap();
    assert!(
        matches!(expect_err(&case, &iam), SigV4Error::SignatureMismatch(id) if id == "AKIDEXAMPLE")
    );
}

#[test]
fn tampered_body_path_or_query_is_refused() {
    for (fixture, name) in [
        (BOTOCORE, "start"),
        (NODE, "amplify_start"),
        (NODE, "smithy_start"),
    ] {
        let (iam, case) = case(fixture, name);
        let mut body = case.clone();
        body.body = body.body.replace("onPublish", "onPublished");
        assert!(
            matches!(expect_err(&body, &iam), SigV4Error::SignatureMismatch(_)),
            "{name}"
        );
        let mut whitespace = case.clone();
        whitespace.body.push(' ');
        assert!(matches!(
            expect_err(&whitespace, &iam),
            SigV4Error::SignatureMismatch(_)
        ));
        let mut path = case.clone();
        path.path = "/graphql/connect".to_owned();
        assert!(matches!(
            expect_err(&path, &iam),
            SigV4Error::SignatureMismatch(_)
        ));
        let mut query = case.clone();
        query.query = "x=1".to_owned();
        assert!(matches!(
            expect_err(&query, &iam),
            SigV4Error::SignatureMismatch(_)
        ));
    }
}

#[test]
fn tampered_signed_header_is_refused_and_unsigned_ones_are_ignored() {
    let (iam, case) = case(BOTOCORE, "post_graphql");
    for (name, value) in [
        ("Content-Type", "text/plain"),
        ("Host", "localhost:4001"),
        ("Accept", "*/*"),
        ("X-Amz-Date", "20250115T123457Z"),
    ] {
        let mut tampered = case.clone();
        tampered.set(name, value);
        assert!(
            matches!(
                expect_err(&tampered, &iam),
                SigV4Error::SignatureMismatch(_)
            ),
            "{name}"
        );
    }
    let mut extra = case.clone();
    extra.set("x-amz-user-agent", "aws-amplify/6");
    extra.set("User-Agent", "curl");
    extra.verify(&iam).unwrap();
    // Header values are compared after trimming, as SigV4 canonicalization prescribes.
    let mut padded = case.clone();
    padded.set("Content-Encoding", "  amz-1.0 ");
    padded.verify(&iam).unwrap();
}

#[test]
fn stale_dates_are_refused_both_ways() {
    let (iam, case) = case(NODE, "amplify_connect");
    let at = case.signed_at();
    case.verify_at(&iam, at + FIVE_MINUTES).unwrap();
    case.verify_at(&iam, at - FIVE_MINUTES).unwrap();
    for now in [
        at + FIVE_MINUTES + Duration::from_secs(1),
        at - FIVE_MINUTES - Duration::from_secs(1),
    ] {
        let error = case.verify_at(&iam, now).unwrap_err();
        assert!(
            matches!(error, SigV4Error::Stale { ref amz_date, .. } if amz_date == "20250115T123456Z")
        );
    }
}

#[test]
fn unknown_access_key_is_refused() {
    let (_, case) = case(BOTOCORE, "connect");
    let iam = IamCredentials::from_json(
        r#"[{"accessKeyId": "AKIDOTHER", "secretAccessKey": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}]"#,
    )
    .unwrap();
    assert!(
        matches!(expect_err(&case, &iam), SigV4Error::UnknownAccessKey(id) if id == "AKIDEXAMPLE")
    );
}

#[test]
fn host_and_date_must_be_signed() {
    let (iam, case) = case(BOTOCORE, "connect");
    let mut no_host = case.clone();
    no_host.set(
        "Authorization",
        &case
            .authorization()
            .replace("content-type;host;", "content-type;"),
    );
    assert!(matches!(
        expect_err(&no_host, &iam),
        SigV4Error::HostNotSigned
    ));
    let mut no_date = case.clone();
    no_date.set(
        "Authorization",
        &case.authorization().replace(";x-amz-date", ""),
    );
    assert!(matches!(
        expect_err(&no_date, &iam),
        SigV4Error::DateNotSigned
    ));
}

#[test]
fn signed_header_must_be_present() {
    let (iam, mut case) = case(BOTOCORE, "connect");
    case.remove("Accept");
    assert!(matches!(expect_err(&case, &iam), SigV4Error::SignedHeaderMissing(n) if n == "accept"));
    case.remove("Host");
    assert!(
        matches!(expect_err(&case, &iam), SigV4Error::SignedHeaderMissing(n) if n == "accept" || n == "host")
    );
}

#[test]
fn wrong_service_or_scope_date_is_refused() {
    let (iam, case) = case(BOTOCORE, "post_graphql");
    let mut service = case.clone();
    service.set(
        "Authorization",
        &case.authorization().replace("/appsync/", "/execute-api/"),
    );
    assert!(
        matches!(expect_err(&service, &iam), SigV4Error::WrongService(s) if s == "execute-api")
    );
    let mut date = case.clone();
    date.set(
        "Authorization",
        &case.authorization().replace("/20250115/", "/20250114/"),
    );
    assert!(matches!(
        expect_err(&date, &iam),
        SigV4Error::ScopeDateMismatch { .. }
    ));
}

#[test]
fn malformed_authorization_is_refused_without_quoting_it() {
    let (iam, case) = case(BOTOCORE, "post_graphql");
    let good = case.authorization();
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl";
    let malformed = [
        String::new(),
        jwt.to_owned(),
        format!("Bearer {jwt}"),
        good.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        good.replace(", Signature=", ", Sig="),
        good.replace("SignedHeaders=", "SignedHeaders=;"),
        good.replace(
            "SignedHeaders=accept;",
            "SignedHeaders=authorization;accept;",
        ),
        good.replace("/aws4_request", ""),
        good.replace("/aws4_request", "/aws4_request/extra"),
        good.replace("AKIDEXAMPLE/", "AKID EXAMPLE/"),
        good.replace("/20250115/", "/2025-01-15/"),
        format!("{good}, Signature=00"),
        format!("{}0", good),
        format!("{}g", &good[..good.len() - 1]),
        format!("{good}, Extra=1"),
        "AWS4-HMAC-SHA256".to_owned(),
        format!(
            "AWS4-HMAC-SHA256 Credential={}",
            "A".repeat(MAX_AUTHORIZATION_LEN)
        ),
    ];
    for value in malformed {
        let mut tampered = case.clone();
        tampered.set("authorization", &value);
        let error = expect_err(&tampered, &iam);
        assert!(
            matches!(error, SigV4Error::MalformedAuthorization(_)),
            "{value}: {error}"
        );
        assert!(!error.to_string().contains(jwt));
    }
    let mut missing = case.clone();
    missing.remove("Authorization");
    assert!(matches!(
        expect_err(&missing, &iam),
        SigV4Error::MissingHeader("authorization")
    ));
    let mut no_date = case.clone();
    no_date.remove("X-Amz-Date");
    let at = case.signed_at();
    let error = no_date.verify_at(&iam, at).unwrap_err();
    assert!(
        matches!(error, SigV4Error::MissingHeader("x-amz-date")),
        "{error}"
    );
    for date in [
        "2025-01-15T12:34:56Z",
        "20250115T123456",
        "+0250115T123456Z",
        "20251315T123456Z",
    ] {
        let mut bad_date = case.clone();
        bad_date.set("X-Amz-Date", date);
        let error = bad_date.verify_at(&iam, at).unwrap_err();
        assert!(
            matches!(error, SigV4Error::MalformedDate),
            "{date}: {error}"
        );
    }
}

#[test]
fn session_tokens_must_match_the_configured_one() {
    for (fixture, name) in [
        (BOTOCORE, "post_graphql_session_token"),
        (NODE, "amplify_connect_session_token"),
        (NODE, "auth_link_start_session_token"),
    ] {
        let (iam, case) = case(fixture, name);
        let mut other = case.clone();
        other.set(
            "x-amz-security-token",
            "IQoJb3JpZ2luX2VjOTHER+session/token==",
        );
        assert!(
            matches!(
                expect_err(&other, &iam),
                SigV4Error::SessionTokenMismatch(_)
            ),
            "{name}"
        );
        let mut missing = case.clone();
        missing.remove("x-amz-security-token");
        assert!(
            matches!(
                expect_err(&missing, &iam),
                SigV4Error::MissingSessionToken(_)
            ),
            "{name}"
        );
    }
    // A token on a request for a key configured without one.
    let (iam, mut case) = case(NODE, "amplify_connect");
    case.set("x-amz-security-token", TOKEN);
    assert!(
        matches!(expect_err(&case, &iam), SigV4Error::UnexpectedSessionToken(id) if id == "AKIDEXAMPLE")
    );
    // The right token under a key configured without one still fails.
    let (_, case) = case_with_token();
    let iam = IamCredentials::from_json(
        r#"[{"accessKeyId": "ASIAEXAMPLETEMPORARY", "secretAccessKey": "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"}]"#,
    )
    .unwrap();
    assert!(matches!(
        expect_err(&case, &iam),
        SigV4Error::UnexpectedSessionToken(_)
    ));
}
