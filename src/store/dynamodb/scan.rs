//! Paging through every connection item of the table: a Scan, for the admin API.

use super::{CONNECTION, DynamoStore, Item, fail, key, live, record_of, s, text};
use crate::store::{Page, StoreError};

/// A Scan of the connection items from the cursor (the scan's last evaluated key, as
/// `<user_id>\u{1f}<connection_id>` in URL-safe base64), each call evaluating at most what
/// is still wanted, so the page ends exactly where the next one starts. Scan order, not id
/// order: DynamoDB's.
pub(super) async fn page(
    store: &DynamoStore,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page, StoreError> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut start: Option<Item> = match cursor {
        None => None,
        Some(cursor) => {
            let bad = || StoreError::BadCursor(cursor.to_owned());
            let text =
                String::from_utf8(engine.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
            let (partition, id) = text.split_once('\u{1f}').ok_or_else(bad)?;
            Some(key(partition.to_owned(), id))
        }
    };
    let limit = limit.max(1);
    let mut records = Vec::new();
    loop {
        let wanted = i32::try_from(limit - records.len()).unwrap_or(i32::MAX);
        let answer = store
            .client
            .scan()
            .table_name(&store.table)
            .filter_expression("begins_with(user_id, :connection)")
            .expression_attribute_values(":connection", s(CONNECTION))
            .limit(wanted)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(fail("Scan"))?;
        for item in answer.items().iter().filter(|item| live(item)) {
            match record_of(item) {
                Ok(Some(record)) => records.push(record),
                Ok(None) => {}
                Err(e) => tracing::warn!("skipping a connection record: {e}"),
            }
        }
        start = answer.last_evaluated_key().cloned();
        if start.is_none() || records.len() >= limit {
            break;
        }
    }
    let next = start.map(|last| {
        let part = |name| text(&last, name).unwrap_or_default().to_owned();
        engine.encode(format!(
            "{}\u{1f}{}",
            part("user_id"),
            part("connection_id")
        ))
    });
    Ok(Page { records, next })
}
