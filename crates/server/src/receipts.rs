//! What each device's spool has had acknowledged, kept across its reconnects.
//!
//! The Chronicle app keeps the audio it streams over `/ws` in a spool of segments and resends
//! whatever was not acknowledged (`audio-ack`) when it reconnects. A chunk whose
//! `(spool_segment_id, spool_sequence)` was already acknowledged for that user's device is
//! acknowledged again at once and not processed twice. The marks live in memory, bounded
//! (devices and segments beyond the bounds forget their oldest marks, and their chunks are
//! then taken again: at least once, as before a restart).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Devices remembered; the one unheard of longest is forgotten first.
const MAX_DEVICES: usize = 10_000;
/// Segments remembered per device; a spool rotates through a few at a time.
pub const MAX_SEGMENTS: usize = 64;

/// The highest sequence marked in each of a few segments, oldest segment first.
#[derive(Debug, Default)]
pub struct SegmentMarks {
    segments: VecDeque<(String, u64)>,
}

impl SegmentMarks {
    /// The highest sequence marked in `segment`.
    pub fn highest(&self, segment: &str) -> Option<u64> {
        self.segments
            .iter()
            .find(|(id, _)| id == segment)
            .map(|(_, sequence)| *sequence)
    }

    /// Whether `sequence` of `segment` is marked (it or a later one is).
    pub fn covers(&self, segment: &str, sequence: u64) -> bool {
        self.highest(segment)
            .is_some_and(|highest| highest >= sequence)
    }

    /// Marks `sequence` of `segment`; a lower mark than the segment's highest changes nothing.
    pub fn mark(&mut self, segment: &str, sequence: u64) {
        if let Some((_, highest)) = self.segments.iter_mut().find(|(id, _)| id == segment) {
            *highest = (*highest).max(sequence);
            return;
        }
        if self.segments.len() >= MAX_SEGMENTS {
            self.segments.pop_front();
        }
        self.segments.push_back((segment.to_owned(), sequence));
    }
}

/// The acknowledged marks of every device, by user id and client id.
#[derive(Default)]
pub struct SpoolReceipts {
    devices: Mutex<Devices>,
}

#[derive(Default)]
struct Devices {
    marks: HashMap<(String, String), (u64, SegmentMarks)>,
    /// Counts marks, to tell which device was heard of longest ago.
    clock: u64,
}

impl SpoolReceipts {
    fn devices(&self) -> std::sync::MutexGuard<'_, Devices> {
        // A panic elsewhere cannot leave these marks half-written: keep using them.
        self.devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `sequence` of `segment` was acknowledged to this user's device.
    pub fn acknowledged(
        &self,
        user_id: &str,
        client_id: &str,
        segment: &str,
        sequence: u64,
    ) -> bool {
        let key = (user_id.to_owned(), client_id.to_owned());
        self.devices()
            .marks
            .get(&key)
            .is_some_and(|(_, marks)| marks.covers(segment, sequence))
    }

    /// Records that `sequence` of `segment` was acknowledged to this user's device.
    pub fn record(&self, user_id: &str, client_id: &str, segment: &str, sequence: u64) {
        let mut devices = self.devices();
        devices.clock += 1;
        let now = devices.clock;
        let key = (user_id.to_owned(), client_id.to_owned());
        if !devices.marks.contains_key(&key) && devices.marks.len() >= MAX_DEVICES {
            // Rare (a new device beyond the bound), so a scan is fine.
            let oldest = devices
                .marks
                .iter()
                .min_by_key(|(_, (heard, _))| *heard)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                devices.marks.remove(&oldest);
            }
        }
        let (heard, marks) = devices.marks.entry(key).or_default();
        *heard = now;
        marks.mark(segment, sequence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_cover_their_sequence_and_earlier_ones_per_device_and_segment() {
        let receipts = SpoolReceipts::default();
        receipts.record("u1", "c1", "seg-a", 5);
        receipts.record("u1", "c1", "seg-a", 3);
        assert!(receipts.acknowledged("u1", "c1", "seg-a", 5));
        assert!(receipts.acknowledged("u1", "c1", "seg-a", 0));
        assert!(!receipts.acknowledged("u1", "c1", "seg-a", 6));
        assert!(!receipts.acknowledged("u1", "c1", "seg-b", 0));
        assert!(!receipts.acknowledged("u1", "c2", "seg-a", 0));
        assert!(!receipts.acknowledged("u2", "c1", "seg-a", 0));
    }

    #[test]
    fn the_oldest_segments_and_devices_are_forgotten_beyond_the_bounds() {
        let mut marks = SegmentMarks::default();
        for segment in 0..=MAX_SEGMENTS {
            marks.mark(&format!("seg-{segment}"), 1);
        }
        assert_eq!(marks.highest("seg-0"), None);
        assert_eq!(marks.highest("seg-1"), Some(1));
        assert_eq!(marks.segments.len(), MAX_SEGMENTS);

        let receipts = SpoolReceipts::default();
        for device in 0..MAX_DEVICES {
            receipts.record("u", &format!("c{device}"), "s", 1);
        }
        receipts.record("u", "c0", "s", 2); // c0 heard of again: c1 is now the oldest
        receipts.record("u", "new", "s", 1);
        assert!(receipts.acknowledged("u", "c0", "s", 2));
        assert!(!receipts.acknowledged("u", "c1", "s", 1));
        assert!(receipts.acknowledged("u", "new", "s", 1));
        assert_eq!(receipts.devices().marks.len(), MAX_DEVICES);
    }
}
