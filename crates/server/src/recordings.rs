//! Session recordings, written on a thread of their own.
//!
//! Writing WAV files is blocking file I/O; done inside a device's task it would, whenever the
//! kernel flushes to disk, stall a runtime worker and every connection on it. Here one thread
//! owns every open recording and takes commands from a bounded queue: a slow disk makes
//! devices wait to queue audio (backpressure), never the runtime.

use std::collections::HashMap;
use std::path::PathBuf;

use chronicle_audio::WavRecorder;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the writer thread (about 16 MB of 100 ms chunks).
const QUEUE: usize = 4096;

enum Command {
    Start {
        id: String,
        path: PathBuf,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Append {
        id: String,
        samples: Vec<i16>,
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

impl Recordings {
    /// Starts the writer thread; it ends when every handle is dropped.
    pub fn spawn() -> std::io::Result<Self> {
        let (commands, mut queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new().name("recordings".into()).spawn(move || {
            let mut open: HashMap<String, WavRecorder> = HashMap::new();
            while let Some(command) = queue.blocking_recv() {
                match command {
                    Command::Start { id, path, reply } => {
                        let started = WavRecorder::create(&path).map(|recorder| {
                            open.insert(id, recorder);
                        });
                        let _ = reply.send(started.map_err(|error| error.to_string()));
                    }
                    Command::Append { id, samples } => {
                        if let Some(recorder) = open.get_mut(&id)
                            && let Err(error) = recorder.append(&samples)
                        {
                            tracing::error!(session = %id, %error, "Recording failed; the rest of this session is not recorded.");
                            open.remove(&id);
                        }
                    }
                    Command::Finish { id, reply } => {
                        if let Some(recorder) = open.remove(&id)
                            && let Err(error) = recorder.finish()
                        {
                            tracing::warn!(session = %id, %error, "Could not finish a recording.");
                        }
                        let _ = reply.send(());
                    }
                }
            }
            // Every handle is gone (the server stops): close what is still open.
            for (_, recorder) in open {
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
            })
            .await;
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
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(Result::unwrap)
            .collect();
        assert_eq!(samples.len(), 16_000);
        assert_eq!((samples[0], samples[15_999]), (0, 9));
        assert!(
            recordings
                .start("s2", dir.path().join("missing\0/x.wav"))
                .await
                .is_err()
        );
    }
}
