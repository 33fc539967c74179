-- Chat with one's memories: sessions per user, and their messages with the sources each
-- answer cited (JSON).
CREATE TABLE chat_sessions (
    session_id TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX chat_sessions_by_user ON chat_sessions (user_id, updated_at);
CREATE TABLE chat_messages (
    id         INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES chat_sessions (session_id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content    TEXT NOT NULL,
    sources    TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX chat_messages_by_session ON chat_messages (session_id, id);
