//! Parsed operations, kept by their text: publishers send the same mutation text thousands of
//! times a second with different variables, and parsing it again each time was a tenth of the
//! server's CPU under load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;

/// A bounded map from operation text to its parsed document. When full it starts over, which
/// keeps it bounded without bookkeeping; a working set that fits is never evicted.
pub struct Documents {
    capacity: usize,
    parsed: Mutex<HashMap<Arc<str>, Arc<ExecutableDocument>>>,
}

impl Documents {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// The parsed document of `query`; `None` when it does not parse (the caller reports the
    /// syntax error its own way). Documents that do not parse are not kept.
    pub fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        if let Some(document) = self.lock().get(query) {
            return Some(document.clone());
        }
        let document = Arc::new(async_graphql::parser::parse_query(query).ok()?);
        if self.capacity > 0 {
            let mut parsed = self.lock();
            if parsed.len() >= self.capacity {
                parsed.clear();
            }
            parsed.insert(Arc::from(query), document.clone());
        }
        Some(document)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<ExecutableDocument>>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_same_document_and_bounded() {
        let documents = Documents::new(2);
        let a = documents.get("{ a }").unwrap();
        assert!(Arc::ptr_eq(&a, &documents.get("{ a }").unwrap()));
        assert!(documents.get("{ broken").is_none());
        documents.get("{ b }").unwrap();
        documents.get("{ c }").unwrap();
        assert!(documents.lock().len() <= 2);
    }
}
