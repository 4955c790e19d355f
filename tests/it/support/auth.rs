//! Test support for the auth modes: tokens, a Lambda-style authorizer that counts its calls,
//! SigV4 signing, and connecting or posting with a given set of credentials over HTTP and every
//! WebSocket protocol.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde_json::{Value as Json, json};

use super::{Proto, TestServer, WsClient, header_subprotocol};

/// The HS256 secret test servers are started with.
pub const HS256_SECRET: &str = "local-dev-secret-for-tests-only-0123456789";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "switchboard-tests";

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims of a valid token for `sub`, valid for ten minutes, with `extra` merged in.
pub fn claims(sub: &str, extra: Json) -> Json {
    let mut claims =
        json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600});
    if let (Some(claims), Json::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    claims
}

/// An HS256 token signed with `secret`.
pub fn hs256_with(secret: &str, claims: &Json) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn hs256(claims: &Json) -> String {
    hs256_with(HS256_SECRET, claims)
}

/// Arguments that make `oidc` the default mode (API keys additional), with the test HS256
/// secret, issuer and audience.
pub const OIDC_ARGS: [&str; 10] = [
    "--auth-default",
    "oidc",
    "--auth-additional",
    "api-key",
    "--jwt-hs256-secret",
    HS256_SECRET,
    "--jwt-issuer",
    ISSUER,
    "--jwt-audience",
    AUDIENCE,
];

/// The owner rule on `userId` bound to `sub`, with `admins` as the admin group.
pub const OWNER_ARGS: [&str; 6] = [
    "--owner-arg",
    "userId",
    "--owner-claim",
    "sub",
    "--admin-group",
    "admins",
];

/// Opens a connection of `proto` presenting `credentials` (a JSON object of headers) the way
/// that protocol's clients do, and sends `connection_init`; the answer is the caller's to read.
pub async fn connect_as(server: &TestServer, proto: Proto, credentials: &Json) -> WsClient {
    match proto {
        Proto::AppSync => {
            let mut auth = credentials.clone();
            auth["host"] = json!(server.addr.to_string());
            let url = format!("ws://{}/graphql/realtime", server.addr);
            let subprotocols = ["graphql-ws".to_owned(), header_subprotocol(&auth)];
            let (mut client, _) = WsClient::dial(proto, &url, &subprotocols, &[]).await;
            client.send(json!({"type": "connection_init"})).await;
            client
        }
        _ => {
            let mut client = WsClient::connect(server, proto).await;
            client.init(credentials.clone()).await;
            client
        }
    }
}

/// The connection was acknowledged.
pub async fn expect_accepted(client: &mut WsClient) {
    let ack = client.next_json().await;
    assert_eq!(ack["type"], "connection_ack", "{:?}: {ack}", client.proto);
}

/// The connection was refused in the protocol's own way.
pub async fn expect_refused(client: &mut WsClient) {
    match client.proto {
        Proto::TransportWs => assert_eq!(client.expect_close().await.0, 4403),
        Proto::Legacy => {
            assert_eq!(client.next_json().await["type"], "connection_error");
            assert_eq!(client.expect_close().await.0, 4403);
        }
        Proto::AppSync => {
            let error = client.next_json().await;
            assert_eq!(error["type"], "connection_error", "{error}");
            assert_eq!(error["payload"]["errors"][0]["errorCode"], 401, "{error}");
            assert_eq!(client.expect_close().await.0, 1008);
        }
    }
}

/// `POST /graphql` with `credentials` as headers; the status and body.
pub async fn post_as(server: &TestServer, credentials: &Json, body: &Json) -> (u16, Json) {
    let mut request = switchboard::net::http_client::client()
        .unwrap()
        .post(server.http_url())
        .json(body);
    for (name, value) in credentials.as_object().unwrap() {
        request = request.header(name, value.as_str().unwrap());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A publish of `status` for `user`, as a request body.
pub fn publish_body(user: &str, status: &str) -> Json {
    json!({
        "query": "mutation P($input: StatusInput!) { publishStatus(input: $input) { userId status timestamp } }",
        "variables": {"input": {"userId": user, "jobId": "j", "status": status}}
    })
}

/// Asserts `credentials` are accepted over HTTP and at the connection of every protocol.
pub async fn accepted_everywhere(server: &TestServer, credentials: &Json) {
    let (status, body) = post_as(server, credentials, &publish_body("someone", "validating")).await;
    assert_eq!(status, 200, "HTTP: {body}");
    assert!(body.get("errors").is_none(), "HTTP: {body}");
    for proto in Proto::EVERY {
        let mut client = connect_as(server, proto, credentials).await;
        expect_accepted(&mut client).await;
    }
}

/// Asserts `credentials` are refused over HTTP (401 in AppSync's shape) and at the connection of
/// every protocol.
pub async fn refused_everywhere(server: &TestServer, credentials: &Json) {
    let (status, body) = post_as(server, credentials, &publish_body("someone", "validating")).await;
    assert_eq!(status, 401, "HTTP: {body}");
    assert_eq!(
        body["errors"][0]["errorType"], "UnauthorizedException",
        "{body}"
    );
    for proto in Proto::EVERY {
        let mut client = connect_as(server, proto, credentials).await;
        expect_refused(&mut client).await;
    }
}

/// A Lambda-style authorizer on 127.0.0.1:0. Tokens `allow-<sub>` are authorized with
/// `resolverContext.sub = <sub>` for `ttl` seconds; `allow-<sub>-deny-<Type.field>` also denies
/// that field; anything else is refused. Asked in the Events shape (`EVENT_*`), it answers with
/// `handlerContext.sub` and refuses every channel containing `forbidden`. It counts the
/// requests it gets.
pub struct TestAuthorizer {
    pub url: String,
    pub calls: Arc<AtomicUsize>,
    /// The last request body, to check AppSync's request shape.
    pub last: Arc<std::sync::Mutex<Json>>,
}

impl TestAuthorizer {
    pub async fn start(ttl: u64) -> Self {
        use axum::routing::post;
        let calls = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(std::sync::Mutex::new(Json::Null));
        let (counter, seen) = (calls.clone(), last.clone());
        let app = axum::Router::new().route(
            "/",
            post(move |axum::Json(request): axum::Json<Json>| {
                let (counter, seen) = (counter.clone(), seen.clone());
                async move {
                    counter.fetch_add(1, Ordering::SeqCst);
                    *seen.lock().unwrap() = request.clone();
                    let token = request["authorizationToken"].as_str().unwrap_or_default();
                    let context = &request["requestContext"];
                    // The Events shape: an answer per channel, in `handlerContext`.
                    let events = context["operation"]
                        .as_str()
                        .is_some_and(|o| o.starts_with("EVENT_"));
                    let forbidden = context["channel"]
                        .as_str()
                        .is_some_and(|c| c.contains("forbidden"));
                    let answer = match token.strip_prefix("allow-") {
                        Some(_) if forbidden => json!({"isAuthorized": false}),
                        Some(rest) if events => {
                            json!({"isAuthorized": true, "handlerContext": {"sub": rest}, "ttlOverride": ttl})
                        }
                        Some(rest) => {
                            let (sub, denied) = match rest.split_once("-deny-") {
                                Some((sub, field)) => (sub, vec![field.to_owned()]),
                                None => (rest, vec![]),
                            };
                            json!({"isAuthorized": true, "resolverContext": {"sub": sub}, "deniedFields": denied, "ttlOverride": ttl})
                        }
                        None => json!({"isAuthorized": false}),
                    };
                    axum::Json(answer)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, calls, last }
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// SigV4 (service `appsync`, region us-east-1) for a POST of `body` to `path` on `host` with
/// `base` headers, signed by `access_key`/`secret` at `at`: `base` plus the signer's headers.
pub fn sigv4_headers(
    host: &str,
    path: &str,
    base: &[(&str, &str)],
    body: &[u8],
    (access_key, secret): (&str, &str),
    at: SystemTime,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity =
        aws_credential_types::Credentials::new(access_key, secret, None, None, "test").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("appsync")
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let mut headers: Vec<(String, String)> = base
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    headers.push(("host".to_owned(), host.to_owned()));
    let url = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    headers
}
