//! How many connections the listener holds at once, so that a flood of
//! connections (with or without a credential) can never take the
//! descriptors the journal needs to append, seal segments and sign
//! checkpoints.
//!
//! The cap is `limits.max_connections`, lowered at start to the process's
//! descriptor limit (`RLIMIT_NOFILE`, soft) less `limits.reserved_fds`; TLS
//! handshakes in progress have a smaller cap of their own, so connections
//! that never finish a handshake cannot hold every slot for long. A slot
//! is taken before `accept`: beyond the cap, new connections wait in the
//! kernel's listen queue, costing whodid nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{getrlimit, Resource};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::state::Limits;

/// The fewest connections the cap allows, however low the descriptor limit.
const MIN_CONNECTIONS: usize = 8;

/// How often a full cap is logged at most.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The connection and handshake slots of one listener.
#[derive(Debug)]
pub struct ConnectionCaps {
    connections: Arc<Semaphore>,
    handshakes: Arc<Semaphore>,
    max_connections: usize,
    max_handshakes: usize,
    last_warned: Option<Instant>,
}

/// The slots one connection holds: the handshake's is given back once the
/// handshake is over, the connection's when the connection ends.
#[derive(Debug)]
pub struct Slot {
    /// Held while the connection is open.
    pub connection: OwnedSemaphorePermit,
    /// Held until the TLS handshake is over.
    pub handshake: OwnedSemaphorePermit,
}

/// The connection cap for `limits` under a soft descriptor limit of
/// `nofile` (`None`: unlimited).
pub fn connection_cap(limits: &Limits, nofile: Option<u64>) -> usize {
    let room = nofile.map_or(usize::MAX, |n| {
        usize::try_from(n)
            .unwrap_or(usize::MAX)
            .saturating_sub(limits.reserved_fds)
    });
    limits.max_connections.min(room).max(MIN_CONNECTIONS)
}

impl ConnectionCaps {
    /// The caps for `limits` under this process's descriptor limit.
    pub fn for_process(limits: &Limits) -> ConnectionCaps {
        let nofile = getrlimit(Resource::Nofile).current;
        let max_connections = connection_cap(limits, nofile);
        let max_handshakes = limits.max_handshakes.clamp(1, max_connections);
        match nofile {
            Some(n) if (n as usize) < limits.reserved_fds + MIN_CONNECTIONS => tracing::warn!(
                nofile = n,
                reserved = limits.reserved_fds,
                max_connections,
                "the descriptor limit (RLIMIT_NOFILE) leaves almost no room for connections beside limits.reserved_fds: raise it (ulimit -n, LimitNOFILE=)"
            ),
            _ => tracing::info!(
                nofile = ?nofile,
                reserved = limits.reserved_fds,
                max_connections,
                max_handshakes,
                "connections capped below the descriptor limit"
            ),
        }
        ConnectionCaps::new(max_connections, max_handshakes)
    }

    /// Caps of `connections` and `handshakes`.
    pub fn new(connections: usize, handshakes: usize) -> ConnectionCaps {
        ConnectionCaps {
            connections: Arc::new(Semaphore::new(connections)),
            handshakes: Arc::new(Semaphore::new(handshakes)),
            max_connections: connections,
            max_handshakes: handshakes,
            last_warned: None,
        }
    }

    /// Connections open at most.
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// Waits for a free connection slot and a free handshake slot.
    pub async fn slot(&mut self) -> Slot {
        let connection = match Arc::clone(&self.connections).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.warn("connections");
                acquire(&self.connections).await
            }
        };
        let handshake = match Arc::clone(&self.handshakes).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.warn("handshakes");
                acquire(&self.handshakes).await
            }
        };
        Slot {
            connection,
            handshake,
        }
    }

    fn warn(&mut self, what: &str) {
        if self.last_warned.is_some_and(|at| at.elapsed() < WARN_EVERY) {
            return;
        }
        self.last_warned = Some(Instant::now());
        tracing::warn!(
            max_connections = self.max_connections,
            max_handshakes = self.max_handshakes,
            "all {what} slots are taken: new connections wait in the listen queue"
        );
    }
}

async fn acquire(semaphore: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    // The semaphore is never closed.
    loop {
        if let Ok(permit) = Arc::clone(semaphore).acquire_owned().await {
            return permit;
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        let limits = Limits::default();
        assert_eq!(connection_cap(&limits, None), limits.max_connections);
        assert_eq!(
            connection_cap(&limits, Some(1 << 20)),
            limits.max_connections
        );
        assert_eq!(
            connection_cap(&limits, Some(1024)),
            1024 - limits.reserved_fds
        );
        assert_eq!(connection_cap(&limits, Some(100)), MIN_CONNECTIONS);
    }

    #[tokio::test]
    async fn slots_are_given_back_when_dropped() {
        let mut caps = ConnectionCaps::new(2, 1);
        let first = caps.slot().await;
        // The handshake slot is taken until the first handshake is over.
        assert!(tokio::time::timeout(Duration::from_millis(20), caps.slot())
            .await
            .is_err());
        drop(first.handshake);
        let second = caps.slot().await;
        drop(second.handshake);
        // Two connections open: the third waits for one to end.
        assert!(tokio::time::timeout(Duration::from_millis(20), caps.slot())
            .await
            .is_err());
        drop(first.connection);
        let _third = caps.slot().await;
        drop(second.connection);
    }
}
