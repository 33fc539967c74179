//! The downlink registry: how the server reaches a connected device.
//!
//! Every device connection (`/ws` and `/ws/audio`) registers under its user id and client id
//! for as long as it is open, and its loop selects on the bounded queue it gets back. The
//! registry is how anything outside a connection (today: plugins' `stop_playback`, through
//! [`Devices::stop_playback`]) sends a device a message without a reference to its socket.
//!
//! One [`Devices`] per server, in [`crate::state::Core`]; it is cheap to clone, so the plugin
//! services can hold one built before the rest of the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Messages queued per connection; a device that does not read them loses the newest.
const QUEUE: usize = 16;

/// Which protocol a connection speaks, which decides what it can be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `/ws`, the Wyoming framing: JSON messages such as `stop-audio`.
    Legacy,
    /// `/ws/audio`, `chronicle.audio.v2`: Chronicle offers no playback there, so there is
    /// nothing yet to send or cancel.
    AudioV2,
}

/// A message for one device connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Downlink {
    /// A `/ws` message, sent as a JSON text frame.
    Legacy(Value),
}

/// The connected devices of a server.
#[derive(Clone, Default)]
pub struct Devices {
    inner: Arc<Mutex<Registry>>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    connections: HashMap<(String, String), Vec<Connection>>,
}

struct Connection {
    id: u64,
    protocol: Protocol,
    sender: mpsc::Sender<Downlink>,
}

/// A connection's end of the registry: what is sent to it, until it is dropped (which
/// unregisters the connection).
pub struct DownlinkReceiver {
    receiver: mpsc::Receiver<Downlink>,
    devices: Devices,
    key: (String, String),
    id: u64,
}

impl DownlinkReceiver {
    /// The next message for this connection; never resolves while there is none.
    pub async fn recv(&mut self) -> Downlink {
        match self.receiver.recv().await {
            Some(message) => message,
            // The registry holds a sender for as long as this receiver lives.
            None => std::future::pending().await,
        }
    }
}

impl Drop for DownlinkReceiver {
    fn drop(&mut self) {
        let mut registry = self.devices.registry();
        if let Some(connections) = registry.connections.get_mut(&self.key) {
            connections.retain(|connection| connection.id != self.id);
            if connections.is_empty() {
                registry.connections.remove(&self.key);
            }
        }
    }
}

/// What a plugin's `stop_playback` reaches: only the devices of a user its actor may reach.
impl chronicle_host_ports::Devices for Devices {
    fn stop_playback(
        &self,
        actor: &chronicle_host_ports::Actor,
        user_id: &str,
        client_id: &str,
    ) -> usize {
        if !actor.may_reach(user_id) {
            return 0;
        }
        Devices::stop_playback(self, user_id, client_id)
    }
}

impl Devices {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Every change below is one statement: a panic cannot leave the map half-changed.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a connection of the device `client_id` of `user_id`.
    pub fn connect(&self, user_id: &str, client_id: &str, protocol: Protocol) -> DownlinkReceiver {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let key = (user_id.to_owned(), client_id.to_owned());
        let mut registry = self.registry();
        registry.next_id += 1;
        let id = registry.next_id;
        registry
            .connections
            .entry(key.clone())
            .or_default()
            .push(Connection {
                id,
                protocol,
                sender,
            });
        DownlinkReceiver {
            receiver,
            devices: self.clone(),
            key,
            id,
        }
    }

    /// How many connections the device `client_id` of `user_id` has open.
    pub fn connections(&self, user_id: &str, client_id: &str) -> usize {
        let key = (user_id.to_owned(), client_id.to_owned());
        self.registry().connections.get(&key).map_or(0, Vec::len)
    }

    /// Tells the device `client_id` of `user_id` to stop playing audio: each of its `/ws`
    /// connections is sent `{"type": "stop-audio", "data": {}}`, as the original server's
    /// downlink did. Returns how many connections were told; `/ws/audio` connections are
    /// not counted (Chronicle offers them no playback, so there is nothing to cancel), nor
    /// is a connection whose queue is full.
    pub fn stop_playback(&self, user_id: &str, client_id: &str) -> usize {
        let message = Downlink::Legacy(json!({"type": "stop-audio", "data": {}}));
        self.send(user_id, client_id, Protocol::Legacy, &message)
    }

    fn send(
        &self,
        user_id: &str,
        client_id: &str,
        protocol: Protocol,
        message: &Downlink,
    ) -> usize {
        let key = (user_id.to_owned(), client_id.to_owned());
        let registry = self.registry();
        let Some(connections) = registry.connections.get(&key) else {
            return 0;
        };
        connections
            .iter()
            .filter(|connection| connection.protocol == protocol)
            .filter(|connection| match connection.sender.try_send(message.clone()) {
                Ok(()) => true,
                Err(error) => {
                    tracing::warn!(client = client_id, %error, "A device is not reading its downlink; a message is dropped.");
                    false
                }
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_playback_reaches_each_legacy_connection_of_that_device_only() {
        let devices = Devices::default();
        let mut first = devices.connect("u1", "c1", Protocol::Legacy);
        let mut second = devices.connect("u1", "c1", Protocol::Legacy);
        let _v2 = devices.connect("u1", "c1", Protocol::AudioV2);
        let mut other_client = devices.connect("u1", "c2", Protocol::Legacy);
        let mut other_user = devices.connect("u2", "c1", Protocol::Legacy);
        assert_eq!(devices.connections("u1", "c1"), 3);

        assert_eq!(devices.stop_playback("u1", "c1"), 2);
        let stop = Downlink::Legacy(json!({"type": "stop-audio", "data": {}}));
        assert_eq!(first.recv().await, stop);
        assert_eq!(second.recv().await, stop);
        for untouched in [&mut other_client, &mut other_user] {
            let nothing =
                tokio::time::timeout(std::time::Duration::from_millis(20), untouched.recv()).await;
            assert!(nothing.is_err());
        }
        assert_eq!(devices.stop_playback("u1", "nobody"), 0);
    }

    #[tokio::test]
    async fn a_dropped_connection_is_unregistered_and_a_full_one_is_not_counted() {
        let devices = Devices::default();
        let connection = devices.connect("u1", "c1", Protocol::Legacy);
        for _ in 0..QUEUE {
            assert_eq!(devices.stop_playback("u1", "c1"), 1);
        }
        assert_eq!(devices.stop_playback("u1", "c1"), 0, "its queue is full");
        drop(connection);
        assert_eq!(devices.connections("u1", "c1"), 0);
        assert!(devices.registry().connections.is_empty());
        assert_eq!(devices.stop_playback("u1", "c1"), 0);
    }
}
