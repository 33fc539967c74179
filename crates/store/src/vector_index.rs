//! The vectors of one embedding model in memory, as 8-bit codes, and the nearest of them to
//! a query's: what search by meaning scans ([`crate::vectors`] loads and fills it).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::hit_kind::HitKind;

/// One item near the query: which, and its cosine similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Neighbour {
    pub kind: HitKind,
    pub rowid: i64,
    pub similarity: f32,
}

/// Where an item's code is, and what the filters need.
struct Entry {
    kind: HitKind,
    rowid: i64,
    user: u32,
    /// RFC 3339, compared as text like the full-text search's filters.
    time: Box<str>,
}

/// The vectors of one model, in memory.
pub(crate) struct VectorIndex {
    pub(crate) model: String,
    pub(crate) dims: usize,
    entries: Vec<Entry>,
    /// `dims` codes per entry, in entry order.
    codes: Vec<i8>,
    slots: HashMap<(HitKind, i64), usize>,
    users: HashMap<String, u32>,
}

/// The store's shared slot for the loaded index.
pub(crate) type SharedIndex = Arc<RwLock<Option<VectorIndex>>>;

/// A unit vector as 8-bit codes: each component times 127, rounded.
pub(crate) fn quantize(vector: &[f32]) -> Vec<i8> {
    vector
        .iter()
        .map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// `vector` scaled to unit length; none for a zero or non-finite vector.
pub fn normalized(vector: &[f32]) -> Option<Vec<f32>> {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm.is_finite() && norm > 0.0).then(|| vector.iter().map(|x| x / norm).collect())
}

pub(crate) fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    // Products in i16 (|127 · 127| fits), summed in 32 i32 lanes: the compiler makes this
    // packed multiply-adds; twice as fast here as multiplying in i32.
    let mut sums = [0i32; 32];
    let mut a_chunks = a.chunks_exact(32);
    let mut b_chunks = b.chunks_exact(32);
    for (x, y) in (&mut a_chunks).zip(&mut b_chunks) {
        for i in 0..32 {
            sums[i] += i32::from(i16::from(x[i]) * i16::from(y[i]));
        }
    }
    let tail: i32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| i32::from(*x) * i32::from(*y))
        .sum();
    sums.iter().sum::<i32>() + tail
}

/// The scan's threads: the machine's cores, at most 8.
fn scan_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

impl VectorIndex {
    pub(crate) fn new(model: &str, dims: usize) -> Self {
        Self {
            model: model.to_owned(),
            dims,
            entries: Vec::new(),
            codes: Vec::new(),
            slots: HashMap::new(),
            users: HashMap::new(),
        }
    }

    fn user(&mut self, user_id: &str) -> u32 {
        let next = self.users.len() as u32;
        *self.users.entry(user_id.to_owned()).or_insert(next)
    }

    /// Adds or replaces an item's code; a vector of another length is left out. An index of
    /// no vectors yet takes the first one's length.
    pub(crate) fn put(
        &mut self,
        kind: HitKind,
        rowid: i64,
        user_id: &str,
        time: &str,
        vector: &[f32],
    ) {
        if self.entries.is_empty() {
            self.dims = vector.len();
        }
        if vector.len() != self.dims {
            return;
        }
        let codes = quantize(vector);
        let user = self.user(user_id);
        match self.slots.get(&(kind, rowid)) {
            Some(&slot) => {
                self.codes[slot * self.dims..(slot + 1) * self.dims].copy_from_slice(&codes);
                self.entries[slot].user = user;
                self.entries[slot].time = time.into();
            }
            None => {
                self.slots.insert((kind, rowid), self.entries.len());
                self.entries.push(Entry {
                    kind,
                    rowid,
                    user,
                    time: time.into(),
                });
                self.codes.extend_from_slice(&codes);
            }
        }
    }

    /// The `limit` items nearest `query` among those the filters let through, nearest first.
    pub(crate) fn nearest(
        &self,
        query: &[f32],
        user: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        kind: Option<HitKind>,
        limit: usize,
    ) -> Vec<Neighbour> {
        if query.len() != self.dims || limit == 0 {
            return Vec::new();
        }
        let user = match user {
            Some(user) => match self.users.get(user) {
                Some(&user) => Some(user),
                None => return Vec::new(),
            },
            None => None,
        };
        let query = quantize(query);
        let keep = |entry: &Entry| {
            user.is_none_or(|user| entry.user == user)
                && kind.is_none_or(|kind| entry.kind == kind)
                && since.is_none_or(|since| &*entry.time >= since)
                && until.is_none_or(|until| &*entry.time <= until)
        };
        // The best `limit` of one stretch of entries: a bounded min-heap of (score, entry), the
        // worst of the best dropped first.
        let scan = |from: usize, to: usize| {
            let mut best: std::collections::BinaryHeap<std::cmp::Reverse<(i32, usize)>> =
                std::collections::BinaryHeap::with_capacity(limit + 1);
            for slot in from..to {
                if !keep(&self.entries[slot]) {
                    continue;
                }
                let score = dot(
                    &query,
                    &self.codes[slot * self.dims..(slot + 1) * self.dims],
                );
                if best.len() < limit {
                    best.push(std::cmp::Reverse((score, slot)));
                } else if best.peek().is_some_and(|worst| score > worst.0.0) {
                    best.pop();
                    best.push(std::cmp::Reverse((score, slot)));
                }
            }
            best
        };
        let threads = scan_threads().min(self.entries.len() / 10_000 + 1);
        let stretch = self.entries.len().div_ceil(threads);
        let best: Vec<std::cmp::Reverse<(i32, usize)>> = if threads == 1 {
            scan(0, self.entries.len()).into_vec()
        } else {
            std::thread::scope(|scope| {
                let scans: Vec<_> = (0..threads)
                    .map(|t| {
                        let (from, to) = (t * stretch, ((t + 1) * stretch).min(self.entries.len()));
                        scope.spawn(move || scan(from, to))
                    })
                    .collect();
                scans
                    .into_iter()
                    .flat_map(|handle| {
                        handle
                            .join()
                            .map(|heap| heap.into_vec())
                            .unwrap_or_default()
                    })
                    .collect()
            })
        };
        let mut found: Vec<(i32, usize)> = best.into_iter().map(|r| r.0).collect();
        found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        found.truncate(limit);
        found
            .into_iter()
            .map(|(score, slot)| Neighbour {
                kind: self.entries[slot].kind,
                rowid: self.entries[slot].rowid,
                similarity: score as f32 / (127.0 * 127.0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_codes_come_first_within_the_filters() {
        let mut index = VectorIndex::new("m", 3);
        let unit = |v: [f32; 3]| normalized(&v).unwrap();
        index.put(
            HitKind::Memory,
            1,
            "ana",
            "2026-01-01T00:00:00Z",
            &unit([1.0, 0.0, 0.0]),
        );
        index.put(
            HitKind::Memory,
            2,
            "ana",
            "2026-02-01T00:00:00Z",
            &unit([0.7, 0.7, 0.0]),
        );
        index.put(
            HitKind::Conversation,
            3,
            "ana",
            "2026-03-01T00:00:00Z",
            &unit([0.0, 1.0, 0.0]),
        );
        index.put(
            HitKind::Memory,
            4,
            "bob",
            "2026-01-01T00:00:00Z",
            &unit([1.0, 0.0, 0.0]),
        );
        let ids = |found: Vec<Neighbour>| found.iter().map(|n| n.rowid).collect::<Vec<_>>();
        let query = unit([1.0, 0.1, 0.0]);
        assert_eq!(
            ids(index.nearest(&query, Some("ana"), None, None, None, 10)),
            [1, 2, 3]
        );
        assert_eq!(
            ids(index.nearest(&query, None, None, None, None, 2)),
            [1, 4]
        );
        assert_eq!(
            ids(index.nearest(&query, Some("ana"), Some("2026-01-15"), None, None, 10)),
            [2, 3]
        );
        assert_eq!(
            ids(index.nearest(
                &query,
                Some("ana"),
                None,
                None,
                Some(HitKind::Conversation),
                10
            )),
            [3]
        );
        assert!(
            index
                .nearest(&query, Some("eve"), None, None, None, 10)
                .is_empty()
        );
        // A vector put again replaces the old one.
        index.put(
            HitKind::Memory,
            1,
            "ana",
            "2026-01-01T00:00:00Z",
            &unit([0.0, 0.0, 1.0]),
        );
        assert_eq!(
            ids(index.nearest(&query, Some("ana"), None, None, None, 1)),
            [2]
        );
        let similarity = index.nearest(&query, Some("ana"), None, None, None, 1)[0].similarity;
        assert!((similarity - 0.77).abs() < 0.02, "{similarity}");
    }

    #[test]
    fn a_vector_survives_its_blob_and_zero_vectors_have_no_direction() {
        let vector = vec![0.25, -1.5, 3.0e-7];
        assert_eq!(from_blob(&to_blob(&vector)), vector);
        assert_eq!(normalized(&[0.0, 0.0]), None);
        assert_eq!(normalized(&[f32::NAN, 1.0]), None);
        assert_eq!(normalized(&[3.0, 4.0]), Some(vec![0.6, 0.8]));
    }
}
