//! The command connection, to one server or to a cluster, behind one type: every caller (the
//! bus, the history, the store) sends commands and scripts through it without knowing which.
//!
//! On a cluster, redis-rs routes each command by the slot of its first key (scripts by their
//! first key too, so a script's keys must share a slot: the bus's hash tags see to that),
//! follows `MOVED` and `ASK`, and refreshes its slot map after a failover or a resharding.
//! Behind Sentinel, each command goes to the master of the moment, and a failed one asks the
//! sentinels whether the master changed.

use std::sync::Arc;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::SentinelMaster;

#[derive(Clone)]
pub enum Commands {
    /// One server; reconnects by itself.
    Server(ConnectionManager),
    /// A Redis Cluster: one multiplexed connection per node, commands routed by slot.
    Cluster(ClusterConnection),
    /// The master Sentinel names, followed across failovers.
    Sentinel(Arc<SentinelMaster>),
}

impl Commands {
    /// Whether this is a Redis Cluster (sharded pub/sub, one slot per script).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for Commands {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
            Self::Sentinel(master) => {
                Box::pin(
                    async move { master.noted(master.commands().req_packed_command(cmd).await) },
                )
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(master) => Box::pin(async move {
                let mut commands = master.commands();
                master.noted(commands.req_packed_commands(pipeline, offset, count).await)
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
            Self::Sentinel(master) => master.db(),
        }
    }
}
