//! What became of each event of one AppSync Events publish, as both the socket's
//! `publish_success` and `POST /event`'s answer list it.

use serde_json::{Value as Json, json};

/// `successful` and `failed` entries, the latter with the keys both Kotlin (`code`, `message`)
/// and Swift (`errorCode`, `errorMessage`) read.
#[derive(Debug, Default)]
pub struct Outcome {
    pub successful: Vec<Json>,
    pub failed: Vec<Json>,
}

impl Outcome {
    pub fn succeeded(&mut self, identifier: &str, index: usize) {
        self.successful
            .push(json!({"identifier": identifier, "index": index}));
    }

    pub fn failed(&mut self, identifier: &str, index: usize, code: u16, message: &str) {
        self.failed.push(
            json!({"identifier": identifier, "index": index, "code": code,
            "message": message, "errorCode": code, "errorMessage": message}),
        );
    }

    /// The body of `POST /event`'s answer.
    pub fn body(&self) -> Json {
        json!({"successful": self.successful, "failed": self.failed})
    }
}
