-- Device sessions: one per audio stream on the WebSocket, from audio-start to its end. The
-- conversations recorded in a session carry its id; the recording is one WAV per session.
CREATE TABLE sessions (
    session_id    TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    audio_path    TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    -- user_stopped, websocket_disconnect, ...
    end_reason    TEXT,
    audio_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_user ON sessions (user_id, started_at);
