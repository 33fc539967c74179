//! Acknowledgements of a device's audio, sent in the order the audio arrived and only once
//! it is on disk.
//!
//! Both device protocols promise this: `/ws` answers spool chunks with `audio-ack`, `/ws/audio`
//! answers every packet with `capture_packet_accepted`, and the device then drops its copy.
//! A connection queues each acknowledgement here with the [`Written`] promise of its audio
//! (or none, for a chunk that was already on disk), and its loop sends them as they come due.

use std::collections::VecDeque;

use crate::recordings::Written;

/// Acknowledgements waiting at most before a connection stops reading until one is sent:
/// a device that sends faster than the disk writes is slowed, not buffered without end.
pub const MAX_WAITING: usize = 1024;

/// The acknowledgements a connection owes, oldest first.
pub struct Acks<T> {
    waiting: VecDeque<(T, Option<Written>)>,
}

impl<T> Default for Acks<T> {
    fn default() -> Self {
        Self {
            waiting: VecDeque::new(),
        }
    }
}

impl<T> Acks<T> {
    /// `ack` is due once `written` resolves.
    pub fn after(&mut self, ack: T, written: Written) {
        self.waiting.push_back((ack, Some(written)));
    }

    /// `ack` is due now, but still after every acknowledgement queued before it.
    pub fn in_turn(&mut self, ack: T) {
        self.waiting.push_back((ack, None));
    }

    /// Whether the connection should send before it reads on.
    pub fn is_full(&self) -> bool {
        self.waiting.len() >= MAX_WAITING
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The oldest acknowledgement once it is due, with whether its audio was written (an
    /// error says why not). Never resolves while nothing is waiting. Cancel-safe: an
    /// acknowledgement leaves the queue only when this returns it.
    pub async fn next(&mut self) -> (T, Result<(), String>) {
        let Some((_, written)) = self.waiting.front_mut() else {
            return std::future::pending().await;
        };
        let outcome = match written {
            Some(written) => written
                .await
                .unwrap_or_else(|_| Err("the recorder has stopped".into())),
            None => Ok(()),
        };
        match self.waiting.pop_front() {
            Some((ack, _)) => (ack, outcome),
            // Unreachable: the front was there above and nothing ran in between.
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn acknowledgements_come_due_in_the_order_they_were_queued() {
        let mut acks = Acks::default();
        let (first, first_written) = oneshot::channel();
        let (second, second_written) = oneshot::channel();
        acks.after(1, first_written);
        acks.in_turn(2);
        acks.after(3, second_written);
        // The second write finishing first does not let anything overtake the first.
        second.send(Ok(())).unwrap();
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), acks.next()).await;
        assert!(early.is_err(), "nothing is due before the first write");
        first.send(Err("disk full".into())).unwrap();
        assert_eq!(acks.next().await, (1, Err("disk full".to_owned())));
        assert_eq!(acks.next().await, (2, Ok(())));
        assert_eq!(acks.next().await, (3, Ok(())));
        assert!(acks.is_empty());
        let idle = tokio::time::timeout(std::time::Duration::from_millis(20), acks.next()).await;
        assert!(idle.is_err(), "an empty queue never resolves");
    }
}
