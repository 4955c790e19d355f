//! The command connection, to one server or to a cluster, behind one type: every caller (the
//! bus, the history, the store) sends commands and scripts through it without knowing which.
//!
//! On a cluster, redis-rs routes each command by the slot of its first key (scripts by their
//! first key too, so a script's keys must share a slot: the bus's hash tags see to that),
//! follows `MOVED` and `ASK`, and refreshes its slot map after a failover or a resharding.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

#[derive(Clone)]
pub enum Commands {
    /// One server; reconnects by itself.
    Server(ConnectionManager),
    /// A Redis Cluster: one multiplexed connection per node, commands routed by slot.
    Cluster(ClusterConnection),
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
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}
