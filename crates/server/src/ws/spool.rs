//! The spool ids of `/ws` audio chunks, and the `audio-ack` that answers them.
//!
//! The Chronicle app spools what it streams and puts `spool_segment_id` (a string) and
//! `spool_sequence` (an integer) in an `audio-chunk` header's `data`; once the chunk is on
//! disk the server answers `{"type": "audio-ack", "spool_segment_id": …, "sequence": …}` (the
//! original's exact shape: the key is `sequence`), and the app drops its copy.

use serde_json::{Value, json};

use super::framing::{Closing, UNSUPPORTED_DATA};

/// The longest segment id taken: ids are kept in memory per device.
const MAX_SEGMENT_ID: usize = 255;

/// A chunk's place in the device's spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpoolChunk {
    pub segment: String,
    pub sequence: u64,
}

impl SpoolChunk {
    /// The spool ids in an `audio-chunk`'s `data`: a chunk carries both or is not spooled
    /// (one alone is ignored, as the original did). Ids of the wrong type are refused.
    pub fn from_data(data: &Value) -> Result<Option<Self>, Closing> {
        let (Some(segment), Some(sequence)) =
            (data.get("spool_segment_id"), data.get("spool_sequence"))
        else {
            return Ok(None);
        };
        let Some(segment) = segment
            .as_str()
            .filter(|s| (1..=MAX_SEGMENT_ID).contains(&s.len()))
        else {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                format!("spool_segment_id must be a string of 1 to {MAX_SEGMENT_ID} bytes"),
            ));
        };
        let Some(sequence) = sequence.as_u64() else {
            return Err(Closing::new(
                UNSUPPORTED_DATA,
                "spool_sequence must be a non-negative integer",
            ));
        };
        Ok(Some(Self {
            segment: segment.to_owned(),
            sequence,
        }))
    }

    /// The acknowledgement the device matches on `spool_segment_id` and `sequence`.
    pub fn ack(&self) -> Value {
        json!({"type": "audio-ack", "spool_segment_id": self.segment, "sequence": self.sequence})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spool_ids_are_read_from_the_data_and_acked_in_the_original_shape() {
        let chunk = SpoolChunk::from_data(&json!({"rate": 16000, "spool_segment_id": "seg-1", "spool_sequence": 7, "captured_at_ms": 1}))
            .unwrap()
            .unwrap();
        assert_eq!(
            chunk.ack(),
            json!({"type": "audio-ack", "spool_segment_id": "seg-1", "sequence": 7})
        );
        for alone in [
            json!({"spool_segment_id": "seg-1"}),
            json!({"spool_sequence": 1}),
            json!(null),
        ] {
            assert_eq!(SpoolChunk::from_data(&alone).unwrap(), None, "{alone}");
        }
        for bad in [
            json!({"spool_segment_id": 5, "spool_sequence": 1}),
            json!({"spool_segment_id": "", "spool_sequence": 1}),
            json!({"spool_segment_id": "x".repeat(256), "spool_sequence": 1}),
            json!({"spool_segment_id": "s", "spool_sequence": -1}),
            json!({"spool_segment_id": "s", "spool_sequence": "1"}),
        ] {
            let closing = SpoolChunk::from_data(&bad).unwrap_err();
            assert_eq!(closing.code, UNSUPPORTED_DATA, "{bad}");
        }
    }
}
