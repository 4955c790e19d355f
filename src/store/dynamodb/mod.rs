//! The DynamoDB connection store (cargo feature `dynamodb`): one table shared by every node;
//! docs/dynamodb.md has the operator's side.
//!
//! Keys: partition key `user_id` (S), sort key `connection_id` (S); TTL on `expires_at` (N, epoch
//! seconds). Two kinds of item:
//!
//! * a **connection item**, `user_id = "connection#<id>"`, `connection_id = <id>`: the whole
//!   [`ConnectionRecord`] as JSON in `record`, plus `node_id`, `last_seen` and `expires_at`;
//! * a **user item** per user of the connection ([`ConnectionRecord::users`]), `user_id = <user>`,
//!   `connection_id = <id>`, with `node_id` and `expires_at`: a user's partition lists the
//!   user's connections, as in the original table.
//!
//! `by_user` queries the user's partition, batch-gets the connection items and keeps the records
//! that still name the user, so a stale user item (a write cut off halfway, a late TTL deletion)
//! never shows in an answer and writes need no transactions: a user item goes in before the
//! connection item names its user, and out after. Only the node holding a socket writes its
//! connection's items, one change at a time. DynamoDB deletes expired items late (up to days),
//! so every read drops items whose `expires_at` has passed. `touch` sets only `last_seen`, which
//! overrides the JSON's, and the heartbeat only `expires_at`: one write each, no read.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType,
    KeysAndAttributes, PutRequest, ScalarAttributeType, TimeToLiveSpecification, WriteRequest,
};
use chrono::{DateTime, SecondsFormat, Utc};
use dashmap::DashMap;
use futures_util::{StreamExt, stream};

use super::{ConnectionRecord, ConnectionStore, Page, StoreError, SubscriptionRecord};
use crate::config::ClusterSettings;

type Item = HashMap<String, AttributeValue>;

mod scan;

/// The partition key prefix of connection items.
const CONNECTION: &str = "connection#";
/// The most items a BatchWriteItem takes, and the most keys a BatchGetItem takes.
const BATCH_WRITE: usize = 25;
const BATCH_GET: usize = 100;
/// How many times a batch is sent again for the items DynamoDB left unprocessed (throttling).
const BATCH_RETRIES: u32 = 6;
/// How many UpdateItem calls a heartbeat keeps in flight.
const HEARTBEAT_CONCURRENCY: usize = 16;
/// A ceiling on any one DynamoDB call, retries included, so a stalled call cannot hold up a
/// session forever.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection records in a DynamoDB table that several nodes share. Each record expires unless
/// its node keeps refreshing it (see [`ConnectionStore::heartbeat`]).
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// This node. A heartbeat refreshes only items whose `node_id` is this one.
    node_id: String,
    /// How long an item outlives its last write or heartbeat.
    ttl: Duration,
    /// This node's live connections, mapped to their users: exactly the items a heartbeat must
    /// refresh. DynamoDB cannot ask for "every item of node X" without scanning the whole table,
    /// so each node keeps its own list.
    own: DashMap<String, HashSet<String>>,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Turns an SDK error into a [`StoreError`] that says which call failed. SDK errors carry the
/// service's code and message, and no credentials.
fn fail<E: std::error::Error>(call: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Unavailable(format!("DynamoDB {call}: {}", DisplayErrorContext(&e)))
}

fn built<T>(request: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    request.map_err(fail("building a request"))
}

fn key(partition: String, id: &str) -> Item {
    HashMap::from([
        ("user_id".to_owned(), s(partition)),
        ("connection_id".to_owned(), s(id)),
    ])
}

fn connection_key(id: &str) -> Item {
    key(format!("{CONNECTION}{id}"), id)
}

/// The key of `user`'s item for connection `id`; `None` for a user named `connection#<id>`, whose
/// item would be the connection item itself. That item is in the same place, so `by_user` still
/// finds the connection.
fn user_key(user: &str, id: &str) -> Option<Item> {
    (user.strip_prefix(CONNECTION) != Some(id)).then(|| key(user.to_owned(), id))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// Whether an item is still alive. An item without `expires_at` never expires.
fn live(item: &Item) -> bool {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .is_none_or(|at| at > Utc::now().timestamp())
}

/// Reads the record out of a connection item, with `last_seen` applied. Returns `Ok(None)` for an
/// item that is not a connection item. The error names only the connection and the place of the
/// fault, never any content.
fn record_of(item: &Item) -> Result<Option<ConnectionRecord>, StoreError> {
    let Some(json) = text(item, "record") else {
        return Ok(None);
    };
    let mut record: ConnectionRecord = serde_json::from_str(json).map_err(|e| {
        let id = text(item, "connection_id").unwrap_or("?");
        StoreError::Unavailable(format!(
            "DynamoDB item of connection {id}: `record` is not a connection record ({:?} error at column {})",
            e.classify(),
            e.column()
        ))
    })?;
    if let Some(seen) = text(item, "last_seen").and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        record.last_seen = seen.with_timezone(&Utc);
    }
    Ok(Some(record))
}

impl DynamoStore {
    /// The store named by the settings, for node `node_id`. Records last
    /// [`ClusterSettings::record_ttl`] past their last heartbeat. Fails when the table cannot be
    /// described, so a missing table or missing permissions show up at start-up.
    pub async fn connect(settings: &ClusterSettings, node_id: &str) -> Result<Self, StoreError> {
        let client = Self::client(settings).await;
        let table = &settings.dynamodb_table;
        let described = client.describe_table().table_name(table).send().await;
        described.map_err(|e| {
            StoreError::Unavailable(format!(
                "DynamoDB table `{table}` (create it as docs/dynamodb.md says): {}",
                DisplayErrorContext(&e)
            ))
        })?;
        let ttl = settings.record_ttl();
        Ok(Self::with_client(client, table, node_id, ttl))
    }

    /// A store on an existing client, for tests and embedders. Records last `ttl` past their
    /// last write or heartbeat.
    pub fn with_client(client: Client, table: &str, node_id: &str, ttl: Duration) -> Self {
        let (table, node_id, own) = (table.to_owned(), node_id.to_owned(), DashMap::new());
        Self {
            client,
            table,
            node_id,
            ttl,
            own,
        }
    }

    /// A DynamoDB client for the settings' region and endpoint. It uses rustls on `ring`, and it
    /// takes credentials from the usual AWS chain (environment, profile, web identity, ECS, EC2).
    /// With a local endpoint and no credentials anywhere, it signs with dummy ones, because local
    /// servers accept anything.
    pub async fn client(settings: &ClusterSettings) -> Client {
        use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let shared = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(settings.dynamodb_region.clone()))
            .http_client(http)
            .timeout_config(timeouts)
            .load()
            .await;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&shared);
        if let Some(endpoint) = &settings.dynamodb_endpoint {
            config = config.endpoint_url(endpoint);
            let found = match shared.credentials_provider() {
                Some(chain) => chain.provide_credentials().await.is_ok(),
                None => false,
            };
            if !found {
                tracing::info!("no AWS credentials found; signing with dummy ones for {endpoint}");
                let dummy = Credentials::new("local", "local", None, None, "switchboard");
                config = config.credentials_provider(dummy);
            }
        }
        Client::from_conf(config.build())
    }

    /// Creates `table` with the store's key schema, billed per request, and turns on TTL on
    /// `expires_at`. Safe to run again on a table that already exists.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let mut create = client.create_table().table_name(table);
        for (name, kind) in [
            ("user_id", KeyType::Hash),
            ("connection_id", KeyType::Range),
        ] {
            let string = ScalarAttributeType::S;
            let attribute = AttributeDefinition::builder().attribute_name(name);
            let key = KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind);
            create = create
                .attribute_definitions(built(attribute.attribute_type(string).build())?)
                .key_schema(built(key.build())?);
        }
        let created = create.billing_mode(BillingMode::PayPerRequest).send().await;
        if let Err(e) = created
            && e.code() != Some("ResourceInUseException")
        {
            return Err(fail("CreateTable")(e));
        }
        let waiter = client.wait_until_table_exists().table_name(table);
        waiter
            .wait(Duration::from_secs(120))
            .await
            .map_err(fail("DescribeTable"))?;
        // DynamoDB refuses to enable TTL twice, so look first.
        let ttl = client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await;
        let ttl = ttl.map_err(fail("DescribeTimeToLive"))?;
        if ttl
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            == Some("expires_at")
        {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("expires_at");
        let update = client.update_time_to_live().table_name(table);
        let update = update
            .time_to_live_specification(built(spec.build())?)
            .send()
            .await;
        update.map_err(fail("UpdateTimeToLive"))?;
        Ok(())
    }

    /// `expires_at` for an item written now: `ttl` from now, rounded up to the second.
    fn expires_at(&self) -> i64 {
        let ttl = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2);
        (Utc::now().timestamp_millis().saturating_add(ttl) + 999) / 1000
    }

    fn user_put(user: &str, id: &str, node: &str, expires: i64) -> Option<WriteRequest> {
        let mut item = user_key(user, id)?;
        item.insert("node_id".to_owned(), s(node));
        item.insert("expires_at".to_owned(), n(expires));
        let put = PutRequest::builder().set_item(Some(item)).build().ok()?;
        Some(WriteRequest::builder().put_request(put).build())
    }

    fn user_delete(user: &str, id: &str) -> Option<WriteRequest> {
        let delete = DeleteRequest::builder()
            .set_key(user_key(user, id))
            .build()
            .ok()?;
        Some(WriteRequest::builder().delete_request(delete).build())
    }

    /// Sends writes in batches of 25, sending again what DynamoDB leaves unprocessed.
    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let call = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending);
                let out = call.send().await.map_err(fail("BatchWriteItem"))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut left| left.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                back_off(attempt, "BatchWriteItem").await?;
            }
        }
        Ok(())
    }

    /// Reads items by key, 100 at a time, asking again for what DynamoDB leaves unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        for chunk in keys.chunks(BATCH_GET) {
            let keys = KeysAndAttributes::builder().set_keys(Some(chunk.to_vec()));
            let mut pending = Some(built(keys.consistent_read(true).build())?);
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let call = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request);
                let out = call.send().await.map_err(fail("BatchGetItem"))?;
                items.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .into_iter()
                        .flatten(),
                );
                pending = out
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(&self.table))
                    .filter(|left| !left.keys().is_empty());
                if pending.is_some() {
                    back_off(attempt, "BatchGetItem").await?;
                    attempt += 1;
                }
            }
        }
        Ok(items)
    }

    /// Writes `record`, whose users were `before`: user items it gains, its connection item,
    /// then deletion of the user items it lost.
    async fn write(
        &self,
        record: &ConnectionRecord,
        before: &HashSet<String>,
    ) -> Result<(), StoreError> {
        let (id, node) = (&record.connection_id, &*record.node_id);
        let after = record.users();
        let expires = self.expires_at();
        let added = after.difference(before);
        let puts = added
            .filter_map(|u| Self::user_put(u, id, node, expires))
            .collect();
        self.batch_write(puts).await?;
        let json = serde_json::to_string(record)
            .map_err(|e| StoreError::Unavailable(format!("encoding a record: {e}")))?;
        let mut item = connection_key(id);
        item.extend([
            ("record".to_owned(), s(json)),
            ("node_id".to_owned(), s(node)),
            ("last_seen".to_owned(), s(rfc3339(record.last_seen))),
            ("expires_at".to_owned(), n(expires)),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put.send().await.map_err(fail("PutItem"))?;
        let removed = before.difference(&after);
        let deletes = removed.filter_map(|u| Self::user_delete(u, id)).collect();
        self.batch_write(deletes).await?;
        if node == self.node_id {
            self.own.insert(id.clone(), after);
        }
        Ok(())
    }

    /// Reads a live record, changes it and writes it back. Does nothing for an unknown one.
    async fn change(
        &self,
        id: &str,
        change: impl FnOnce(&mut ConnectionRecord),
    ) -> Result<(), StoreError> {
        let Some(mut record) = self.get(id).await? else {
            return Ok(());
        };
        let before = record.users();
        change(&mut record);
        self.write(&record, &before).await
    }

    async fn get_item(&self, id: &str) -> Result<Option<Item>, StoreError> {
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)));
        let out = get
            .consistent_read(true)
            .send()
            .await
            .map_err(fail("GetItem"))?;
        Ok(out.item)
    }

    /// Updates connection `id`'s item when `condition` holds; returns whether it did. A failed
    /// condition is no error. (Our attribute names are no DynamoDB reserved words but `record`.)
    async fn update(
        &self,
        id: &str,
        update: &str,
        condition: &str,
        values: [(&str, AttributeValue); 2],
    ) -> Result<bool, StoreError> {
        let values = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(connection_key(id)))
            .update_expression(update)
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(fail("UpdateItem")(e)),
        }
    }
}

/// Waits before sending again what DynamoDB left unprocessed (it was throttling), or gives up.
async fn back_off(attempt: u32, call: &str) -> Result<(), StoreError> {
    if attempt >= BATCH_RETRIES {
        return Err(StoreError::Unavailable(format!(
            "DynamoDB {call}: still throttled after {attempt} retries"
        )));
    }
    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
    Ok(())
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn connect(&self, record: ConnectionRecord) -> Result<(), StoreError> {
        self.write(&record, &HashSet::new()).await
    }

    async fn subscribe(
        &self,
        connection_id: &str,
        subscription: SubscriptionRecord,
    ) -> Result<(), StoreError> {
        self.change(connection_id, |record| {
            record.add_subscription(subscription)
        })
        .await
    }

    async fn unsubscribe(
        &self,
        connection_id: &str,
        subscription_id: &str,
    ) -> Result<(), StoreError> {
        self.change(connection_id, |record| {
            record.remove_subscription(subscription_id)
        })
        .await
    }

    /// One UpdateItem of `last_seen`, and only on a live record.
    async fn touch(&self, connection_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let seen = (":seen", s(rfc3339(at)));
        let now = (":now", n(Utc::now().timestamp()));
        let condition = "expires_at > :now";
        self.update(
            connection_id,
            "SET last_seen = :seen",
            condition,
            [seen, now],
        )
        .await
        .map(drop)
    }

    async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError> {
        let own = self.own.remove(connection_id).map(|(_, users)| users);
        let mut users = own.unwrap_or_default();
        let item = self.get_item(connection_id).await?;
        // An expired record goes too, with its user items.
        if let Some(Ok(Some(record))) = item.as_ref().map(record_of) {
            users.extend(record.users());
        }
        if item.is_some() {
            let delete = self.client.delete_item().table_name(&self.table);
            let delete = delete.set_key(Some(connection_key(connection_id)));
            delete.send().await.map_err(fail("DeleteItem"))?;
        }
        let id = connection_id;
        let deletes = users.iter().filter_map(|u| Self::user_delete(u, id));
        self.batch_write(deletes.collect()).await
    }

    async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        match self.get_item(connection_id).await? {
            Some(item) if live(&item) => record_of(&item),
            _ => Ok(None),
        }
    }

    /// A Query of the user's partition, then a BatchGetItem of the connection items it names.
    async fn by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("user_id = :user")
            .expression_attribute_values(":user", s(user_id))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut keys = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(fail("Query"))?;
            if let Some(id) = text(&item, "connection_id").filter(|_| live(&item)) {
                keys.push(connection_key(id));
            }
        }
        let mut records = Vec::new();
        for item in self.batch_get(keys).await?.iter().filter(|item| live(item)) {
            match record_of(item) {
                Ok(Some(record)) if record.users().contains(user_id) => records.push(record),
                Ok(_) => {}
                Err(e) => tracing::warn!("skipping a connection record: {e}"),
            }
        }
        records.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
        Ok(records)
    }

    async fn page(&self, cursor: Option<&str>, limit: usize) -> Result<Page, StoreError> {
        scan::page(self, cursor, limit).await
    }

    /// Pushes `expires_at` of every connection of this node one ttl ahead: an UpdateItem of the
    /// connection item (only while its `node_id` is this node), then a batch put of its user
    /// items. A connection whose item has gone (expired during an outage, or removed by another
    /// node) leaves the list.
    async fn heartbeat(&self) -> Result<(), StoreError> {
        let expires = self.expires_at();
        let own: Vec<(String, HashSet<String>)> = self
            .own
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let results: Vec<_> = stream::iter(own)
            .map(|(id, users)| async move {
                let values = [(":expires", n(expires)), (":node", s(&self.node_id))];
                let set = "SET expires_at = :expires";
                let refreshed = self.update(&id, set, "node_id = :node", values).await;
                (refreshed, id, users)
            })
            .buffer_unordered(HEARTBEAT_CONCURRENCY)
            .collect()
            .await;
        let (mut puts, mut error) = (Vec::new(), None);
        for (refreshed, id, users) in results {
            match refreshed {
                Ok(true) => {
                    let node = &self.node_id;
                    puts.extend(
                        users
                            .iter()
                            .filter_map(|u| Self::user_put(u, &id, node, expires)),
                    );
                }
                Ok(false) => {
                    tracing::warn!(connection = %id, "connection record gone from DynamoDB");
                    self.own.remove(&id);
                }
                Err(e) => error = Some(e),
            }
        }
        self.batch_write(puts).await?;
        error.map_or(Ok(()), Err)
    }
}
