//! The in-memory connection store: records by connection id, and connection ids by user.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dashmap::DashMap;

use super::{ConnectionRecord, ConnectionStore, Page, StoreError, SubscriptionRecord};

#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Boxed: a map keeps spare slots (up to half of them empty after it grows), and a slot
    /// holding the record itself would cost its whole size each.
    connections: DashMap<String, Box<ConnectionRecord>>,
    /// User id -> the connections that belong to or subscribe for that user.
    users: DashMap<String, HashSet<String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Brings the user index in line after `connection_id`'s users changed from `before`.
    fn reindex(&self, connection_id: &str, before: HashSet<String>, after: &HashSet<String>) {
        for user in before.difference(after) {
            if let Some(mut ids) = self.users.get_mut(user) {
                ids.remove(connection_id);
            }
            self.users.remove_if(user, |_, ids| ids.is_empty());
        }
        for user in after.difference(&before) {
            self.users
                .entry(user.clone())
                .or_default()
                .insert(connection_id.to_owned());
        }
    }

    /// Changes a record and keeps the user index in line. The record's guard is released before
    /// the user index is touched, so the two maps are never locked together.
    fn update(&self, connection_id: &str, change: impl FnOnce(&mut ConnectionRecord)) {
        let Some((before, after)) = self.connections.get_mut(connection_id).map(|mut record| {
            let before = record.users();
            change(&mut record);
            (before, record.users())
        }) else {
            return;
        };
        self.reindex(connection_id, before, &after);
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn connect(&self, record: ConnectionRecord) -> Result<(), StoreError> {
        let users = record.users();
        let id = record.connection_id.clone();
        self.connections.insert(id.clone(), Box::new(record));
        self.reindex(&id, HashSet::new(), &users);
        Ok(())
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        subscription: SubscriptionRecord,
    ) -> Result<(), StoreError> {
        self.update(connection_id, |record| {
            record.add_subscription(subscription)
        });
        Ok(())
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.update(connection_id, |record| {
            record.remove_subscription(subscription_id)
        });
        Ok(())
    }

    async fn touch(&self, connection_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(mut record) = self.connections.get_mut(connection_id) {
            record.last_seen = at;
        }
        Ok(())
    }

    async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError> {
        if let Some((id, record)) = self.connections.remove(connection_id) {
            self.reindex(&id, record.users(), &HashSet::new());
        }
        Ok(())
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self
            .connections
            .get(connection_id)
            .map(|r| ConnectionRecord::clone(&r)))
    }

    async fn by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let ids: Vec<String> = self
            .users
            .get(user_id)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        Ok(ids
            .iter()
            .filter_map(|id| {
                self.connections
                    .get(id)
                    .map(|r| ConnectionRecord::clone(&r))
            })
            .collect())
    }

    async fn page(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        let mut ids: Vec<String> = self.connections.iter().map(|e| e.key().clone()).collect();
        ids.sort_unstable();
        let (page, next) = Page::of_sorted_ids(&ids, cursor, limit);
        let records = page
            .iter()
            .filter_map(|id| {
                self.connections
                    .get(id)
                    .map(|r| ConnectionRecord::clone(&r))
            })
            .collect();
        Ok(Page { records, next })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> ConnectionRecord {
        ConnectionRecord {
            connection_id: id.to_owned(),
            user_id: None,
            protocol: "graphql-transport-ws".into(),
            remote_addr: "127.0.0.1:1".to_owned(),
            node_id: "n1".into(),
            connected_at: Utc::now(),
            last_seen: Utc::now(),
            subscriptions: Vec::new(),
        }
    }

    fn sub(id: &str, user: &str) -> SubscriptionRecord {
        SubscriptionRecord {
            id: id.to_owned(),
            field: "onStatusUpdate".to_owned(),
            arguments: serde_json::Map::from_iter([("userId".to_owned(), user.into())]),
            user_id: Some(user.to_owned()),
        }
    }

    #[tokio::test]
    async fn records_follow_subscriptions_and_users() {
        let store = MemoryStore::new();
        store.connect(record("c1")).await.unwrap();
        store.subscribe("c1", sub("s1", "alice")).await.unwrap();
        store.subscribe("c1", sub("s2", "bob")).await.unwrap();
        assert_eq!(
            store.get("c1").await.unwrap().unwrap().user_id.as_deref(),
            Some("alice")
        );
        assert_eq!(store.by_user("bob").await.unwrap().len(), 1);
        store.unsubscribe("c1", "s2").await.unwrap();
        assert!(store.by_user("bob").await.unwrap().is_empty());
        assert_eq!(
            store.by_user("alice").await.unwrap().len(),
            1,
            "still the connection's user"
        );
        store.disconnect("c1").await.unwrap();
        assert!(store.get("c1").await.unwrap().is_none());
        assert!(store.by_user("alice").await.unwrap().is_empty());
        assert!(store.users.is_empty());
    }
}
