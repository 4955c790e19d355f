//! Reading a request body within bounds: at most `--max-request-bytes`, within
//! `--request-body-timeout` of the headers, and no slower than `--request-body-min-rate` on
//! average. A client that sends its headers and then stalls (or trickles) would otherwise hold a
//! connection, and the memory of its partial body, for as long as it likes.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::errors::appsync_error;
use crate::operation::ErrorType;

/// The bounds a body is read within.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Bytes per second, averaged since the headers; 0: no minimum.
    pub min_rate: u64,
}

impl BodyLimits {
    /// The limits the settings give every request body.
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self {
            max_bytes: settings.max_request_bytes,
            timeout: settings.request_body_timeout,
            min_rate: settings.request_body_min_rate,
        }
    }
}

/// Why a body was not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body did not arrive within {0:?}")]
    TimedOut(Duration),
    #[error("the request body arrived slower than {0} bytes per second")]
    TooSlow(u64),
    #[error("the request body could not be read")]
    Broken,
}

impl BodyError {
    /// The answer, in AppSync's error shape.
    pub fn response(&self) -> Response {
        let (status, error_type) = match self {
            Self::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorType::PayloadTooLargeException,
            ),
            Self::TimedOut(_) | Self::TooSlow(_) => (
                StatusCode::REQUEST_TIMEOUT,
                ErrorType::RequestTimeoutException,
            ),
            Self::Broken => (
                StatusCode::BAD_REQUEST,
                ErrorType::MalformedHttpRequestException,
            ),
        };
        appsync_error(status, error_type, &self.to_string())
    }
}

/// Refuses a declared `Content-Length` over the limit before anything is read.
pub fn check_declared_length(headers: &HeaderMap, limits: &BodyLimits) -> Result<(), BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > limits.max_bytes as u64 => {
            Err(BodyError::TooLarge(limits.max_bytes))
        }
        _ => Ok(()),
    }
}

/// Reads the whole body within `limits`.
pub async fn read(body: Body, limits: &BodyLimits) -> Result<Bytes, BodyError> {
    let start = Instant::now();
    let deadline = start + limits.timeout;
    let mut stream = body.into_data_stream();
    let mut received: Vec<u8> = Vec::new();
    // The rate is checked once a second, from the end of the first second on.
    let mut next_check = start + Duration::from_secs(1);
    loop {
        let wake = if limits.min_rate > 0 {
            next_check.min(deadline)
        } else {
            deadline
        };
        tokio::select! {
            chunk = stream.next() => match chunk {
                None => return Ok(Bytes::from(received)),
                Some(Ok(chunk)) => {
                    if received.len() + chunk.len() > limits.max_bytes {
                        return Err(BodyError::TooLarge(limits.max_bytes));
                    }
                    received.extend_from_slice(&chunk);
                }
                Some(Err(_)) => return Err(BodyError::Broken),
            },
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(BodyError::TimedOut(limits.timeout));
                }
                let expected = limits.min_rate as f64 * (now - start).as_secs_f64();
                if (received.len() as f64) < expected {
                    return Err(BodyError::TooSlow(limits.min_rate));
                }
                next_check += Duration::from_secs(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 10,
        timeout: Duration::from_secs(10),
        min_rate: 4,
    };

    fn trickle(chunks: Vec<(u64, &'static str)>) -> Body {
        let stream = futures_util::stream::iter(chunks).then(|(wait, text)| async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, std::io::Error>(Bytes::from(text))
        });
        Body::from_stream(stream)
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_within_bounds_is_read() {
        let body = trickle(vec![(500, "abcd"), (900, "efgh")]);
        assert_eq!(read(body, &LIMITS).await.unwrap(), "abcdefgh");
    }

    #[tokio::test(start_paused = true)]
    async fn too_large_too_slow_and_too_late_are_refused() {
        let big = trickle(vec![(0, "0123456789"), (0, "x")]);
        assert_eq!(read(big, &LIMITS).await, Err(BodyError::TooLarge(10)));
        // 4 bytes in the first second, then nothing: under 4 bytes/s by the second check.
        let stalled = trickle(vec![(0, "abcd"), (60_000, "e")]);
        assert_eq!(read(stalled, &LIMITS).await, Err(BodyError::TooSlow(4)));
        let no_rate = BodyLimits {
            min_rate: 0,
            ..LIMITS
        };
        let stalled = trickle(vec![(0, "a"), (60_000, "e")]);
        assert_eq!(
            read(stalled, &no_rate).await,
            Err(BodyError::TimedOut(Duration::from_secs(10)))
        );
    }

    #[test]
    fn a_declared_length_over_the_limit_is_refused_unread() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "11".parse().unwrap());
        assert_eq!(
            check_declared_length(&headers, &LIMITS),
            Err(BodyError::TooLarge(10))
        );
        headers.insert(CONTENT_LENGTH, "10".parse().unwrap());
        assert!(check_declared_length(&headers, &LIMITS).is_ok());
    }
}
