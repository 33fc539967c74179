//! Session recordings, written on a thread of their own.
//!
//! Writing WAV files is blocking file I/O; done inside a device's task it would, whenever the
//! kernel flushes to disk, stall a runtime worker and every connection on it. Here one thread
//! owns every open recording and takes commands from a bounded queue: a slow disk makes
//! devices wait to queue audio (backpressure), never the runtime.
//!
//! Audio a device wants acknowledged ([`Recordings::append_durably`]: `/ws` spool chunks,
//! `/ws/audio` packets) is confirmed once it is on disk (`fsync`). The thread takes whatever
//! has queued up meanwhile in one batch and syncs each file once per batch, so a busy disk
//! costs one sync per batch, not one per packet (a group commit).

use std::collections::HashMap;
use std::path::PathBuf;

use chronicle_audio::WavRecorder;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the writer thread (about 16 MB of 100 ms chunks).
const QUEUE: usize = 4096;
/// Commands handled between two syncs at most, so the first caller's wait stays bounded.
const BATCH: usize = 256;

/// Resolves once the audio it was returned for is on disk, or could not be written.
pub type Written = oneshot::Receiver<Result<(), String>>;

enum Command {
    Start {
        id: String,
        path: PathBuf,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Append {
        id: String,
        samples: Vec<i16>,
        /// Told once the samples are synced to disk.
        durable: Option<oneshot::Sender<Result<(), String>>>,
    },
    Finish {
        id: String,
        reply: oneshot::Sender<()>,
    },
}

/// The handle to the writer thread.
#[derive(Clone)]
pub struct Recordings {
    commands: mpsc::Sender<Command>,
}

/// What the writer thread holds: the open files and the promises of durability it owes.
#[derive(Default)]
struct Writer {
    open: HashMap<String, WavRecorder>,
    /// Callers waiting for a sync, by recording, in the order they asked.
    owed: Vec<(String, oneshot::Sender<Result<(), String>>)>,
}

impl Writer {
    fn handle(&mut self, command: Command) {
        match command {
            Command::Start { id, path, reply } => {
                let started = WavRecorder::create(&path).map(|recorder| {
                    self.open.insert(id, recorder);
                });
                let _ = reply.send(started.map_err(|error| error.to_string()));
            }
            Command::Append {
                id,
                samples,
                durable,
            } => {
                let Some(recorder) = self.open.get_mut(&id) else {
                    if let Some(durable) = durable {
                        let _ = durable.send(Err("this session is not being recorded".into()));
                    }
                    return;
                };
                if let Err(error) = recorder.append(&samples) {
                    tracing::error!(session = %id, %error, "Recording failed; the rest of this session is not recorded.");
                    self.open.remove(&id);
                    if let Some(durable) = durable {
                        let _ = durable.send(Err(error.to_string()));
                    }
                    return;
                }
                if let Some(durable) = durable {
                    self.owed.push((id, durable));
                }
            }
            Command::Finish { id, reply } => {
                // What is owed for this file is synced while it is still open.
                self.sync_owed();
                if let Some(recorder) = self.open.remove(&id)
                    && let Err(error) = recorder.finish()
                {
                    tracing::warn!(session = %id, %error, "Could not finish a recording.");
                }
                let _ = reply.send(());
            }
        }
    }

    /// Syncs each file something is owed for, once, and keeps the promises in order.
    fn sync_owed(&mut self) {
        let mut synced: HashMap<String, Result<(), String>> = HashMap::new();
        for (id, durable) in std::mem::take(&mut self.owed) {
            let outcome = synced
                .entry(id)
                .or_insert_with_key(|id| match self.open.get_mut(id) {
                    Some(recorder) => recorder.sync().map_err(|error| {
                        tracing::error!(session = %id, %error, "Could not sync a recording.");
                        error.to_string()
                    }),
                    None => Err("this session is not being recorded".into()),
                });
            let _ = durable.send(outcome.clone());
        }
    }
}

impl Recordings {
    /// Starts the writer thread; it ends when every handle is dropped.
    pub fn spawn() -> std::io::Result<Self> {
        let (commands, mut queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("recordings".into())
            .spawn(move || {
                let mut writer = Writer::default();
                while let Some(command) = queue.blocking_recv() {
                    writer.handle(command);
                    // Whatever queued up while the last sync ran shares the next one.
                    for _ in 1..BATCH {
                        let Ok(command) = queue.try_recv() else { break };
                        writer.handle(command);
                    }
                    writer.sync_owed();
                }
                // Every handle is gone (the server stops): close what is still open.
                for (_, recorder) in writer.open {
                    let _ = recorder.finish();
                }
            })?;
        Ok(Self { commands })
    }

    /// Creates the WAV file of a session.
    pub async fn start(&self, id: &str, path: PathBuf) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Start {
                id: id.to_owned(),
                path,
                reply,
            })
            .await
            .map_err(|_| "the recorder has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the recorder has stopped".to_owned())?
    }

    /// Queues audio for a session's file; waits only when the disk is behind.
    pub async fn append(&self, id: &str, samples: Vec<i16>) {
        let _ = self
            .commands
            .send(Command::Append {
                id: id.to_owned(),
                samples,
                durable: None,
            })
            .await;
    }

    /// Queues audio for a session's file, like [`Recordings::append`]; the answer resolves
    /// once it (and everything queued before it) is synced to disk.
    pub async fn append_durably(&self, id: &str, samples: Vec<i16>) -> Written {
        let (durable, written) = oneshot::channel();
        let command = Command::Append {
            id: id.to_owned(),
            samples,
            durable: Some(durable),
        };
        if let Err(mpsc::error::SendError(Command::Append {
            durable: Some(durable),
            ..
        })) = self.commands.send(command).await
        {
            let _ = durable.send(Err("the recorder has stopped".into()));
        }
        written
    }

    /// Closes a session's file once everything queued before is written.
    pub async fn finish(&self, id: &str) {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Finish {
                id: id.to_owned(),
                reply,
            })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(path: &std::path::Path) -> Vec<i16> {
        hound::WavReader::open(path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect()
    }

    #[tokio::test]
    async fn recordings_are_written_in_order_and_finished() {
        let dir = tempfile::tempdir().unwrap();
        let recordings = Recordings::spawn().unwrap();
        let path = dir.path().join("a/s1.wav");
        recordings.start("s1", path.clone()).await.unwrap();
        for chunk in 0..10 {
            recordings.append("s1", vec![chunk as i16; 1600]).await;
        }
        recordings.finish("s1").await;
        let samples = samples(&path);
        assert_eq!(samples.len(), 16_000);
        assert_eq!((samples[0], samples[15_999]), (0, 9));
        assert!(
            recordings
                .start("s2", dir.path().join("missing\0/x.wav"))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn durable_appends_resolve_in_order_once_the_file_holds_them() {
        let dir = tempfile::tempdir().unwrap();
        let recordings = Recordings::spawn().unwrap();
        let path = dir.path().join("s1.wav");
        recordings.start("s1", path.clone()).await.unwrap();
        let mut written = Vec::new();
        for chunk in 0..20 {
            written.push(recordings.append_durably("s1", vec![chunk; 160]).await);
        }
        for (chunk, written) in written.into_iter().enumerate() {
            written.await.unwrap().unwrap();
            // Everything up to this chunk is readable before the recording is finished.
            assert!(samples(&path).len() >= (chunk + 1) * 160);
        }
        let unknown = recordings.append_durably("nobody", vec![0; 160]).await;
        assert!(unknown.await.unwrap().is_err(), "no such recording");
        recordings.finish("s1").await;
        assert_eq!(samples(&path).len(), 20 * 160);
    }
}
