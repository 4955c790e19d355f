//! The sessions this node holds, by connection id, so an administrator (through the bus) can end
//! one of them.

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct Connections {
    /// Connection id -> the token its session watches (its attention token); cancelled to
    /// close it.
    kicks: DashMap<String, CancellationToken>,
}

impl Connections {
    /// Registers a session. The token returned is a child of `closing` (the node's), so it is
    /// cancelled when the session is kicked or when the node closes.
    pub fn register(&self, id: &str, closing: &CancellationToken) -> CancellationToken {
        let token = closing.child_token();
        self.kicks.insert(id.to_owned(), token.clone());
        token
    }

    pub fn remove(&self, id: &str) {
        self.kicks.remove(id);
    }

    /// Closes connection `id` if this node holds it.
    pub fn kick(&self, id: &str) -> bool {
        match self.kicks.get(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.kicks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kicks.is_empty()
    }
}
