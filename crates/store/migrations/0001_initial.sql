-- Chronicle's first schema. Applied once, inside a transaction, by `db::migrate`, which then sets
-- `PRAGMA user_version = 1`. Never edit a migration that has shipped: add the next file instead.
--
-- Conventions: ids are UUID v4 strings; timestamps are RFC 3339 UTC strings with milliseconds
-- (`2026-11-25T09:00:00.123Z`), which sort as text; JSON is stored as TEXT; booleans are 0/1.
-- Tables are STRICT so a wrong type is an error rather than a surprise.

-- People who log in. The email is unique whatever its (ASCII) case.
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    TEXT NOT NULL
) STRICT;

-- Devices (wearables, apps) that stream audio for a user.
CREATE TABLE clients (
    client_id    TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_name  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) STRICT;
CREATE INDEX clients_by_user ON clients (user_id);

-- Conversations. Deleting one deletes the row (no soft delete); its memories stay, unlinked.
-- `client_id` is not a foreign key: uploads and the CLI create conversations without a device.
-- `segments` and `markers` are JSON arrays; `completed_at` is set once, by the first completion.
CREATE TABLE conversations (
    conversation_id  TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id        TEXT NOT NULL,
    session_id       TEXT,
    title            TEXT NOT NULL,
    summary          TEXT,
    transcript       TEXT NOT NULL DEFAULT '',
    segments         TEXT NOT NULL DEFAULT '[]',
    markers          TEXT NOT NULL DEFAULT '[]',
    audio_path       TEXT,
    starred          INTEGER NOT NULL DEFAULT 0 CHECK (starred IN (0, 1)),
    starred_at       TEXT,
    end_reason       TEXT,
    created_at       TEXT NOT NULL,
    completed_at     TEXT,
    duration_seconds REAL
) STRICT;
CREATE INDEX conversations_by_user ON conversations (user_id, created_at);
CREATE INDEX conversations_by_created ON conversations (created_at);
CREATE INDEX conversations_open_by_session ON conversations (session_id, created_at)
    WHERE completed_at IS NULL;

-- What Chronicle remembers about a user. `search_text` is `content` lowercased (Unicode-aware,
-- by Rust) so that search is case-insensitive beyond ASCII.
CREATE TABLE memories (
    memory_id       TEXT PRIMARY KEY NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations (conversation_id) ON DELETE SET NULL,
    content         TEXT NOT NULL,
    search_text     TEXT NOT NULL,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX memories_by_user ON memories (user_id, created_at);
CREATE INDEX memories_by_conversation ON memories (conversation_id);

-- Dispatch records, newest kept (trimmed to the store's capacity after every append).
-- `user_id` is not a foreign key: events also run for `system`.
CREATE TABLE event_log (
    id        INTEGER PRIMARY KEY,
    event     TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    record    TEXT NOT NULL
) STRICT;
CREATE INDEX event_log_by_user ON event_log (user_id, id);
CREATE INDEX event_log_by_event ON event_log (event, id);

-- Documents plugins store through the `database` service, per plugin and per collection.
-- `seq` gives insertion order; `doc_id` is the document's `_id`.
CREATE TABLE plugin_documents (
    seq        INTEGER PRIMARY KEY,
    plugin_id  TEXT NOT NULL,
    collection TEXT NOT NULL,
    doc_id     TEXT NOT NULL,
    document   TEXT NOT NULL,
    UNIQUE (plugin_id, collection, doc_id)
) STRICT;
CREATE INDEX plugin_documents_in_order ON plugin_documents (plugin_id, collection, seq);

-- Durable delivery of terminal events (schema only; used by a later issue).
--
-- A terminal event (`transcript.batch`, `memory.processed`, `conversation.complete`,
-- `conversation.starred`) is written here in the same transaction as the state change that
-- produced it, so it cannot be lost between the change and its dispatch.
CREATE TABLE delivery_events (
    event_id        TEXT PRIMARY KEY NOT NULL,
    event           TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    data            TEXT NOT NULL DEFAULT '{}',
    metadata        TEXT NOT NULL DEFAULT '{}',
    conversation_id TEXT,
    created_at      TEXT NOT NULL
) STRICT;
CREATE INDEX delivery_events_by_created ON delivery_events (created_at);

-- One row per (event, subscribed plugin): the chain's progress, recorded after each plugin, so a
-- crash resumes where it stopped. `idempotency_key` is `event_id:plugin_id` and is handed to the
-- plugin, which may see an event more than once. `pending` waits for `next_attempt_at`;
-- `running` is in flight (a crash leaves it so, and recovery puts it back to `pending`);
-- `succeeded` and `declined` are done; `failed` will be retried with exponential backoff until
-- `attempt` reaches the plugin's `max_retries`, then it becomes `dead` (a dead letter, which can
-- be replayed by setting it back to `pending`).
CREATE TABLE deliveries (
    event_id        TEXT NOT NULL REFERENCES delivery_events (event_id) ON DELETE CASCADE,
    plugin_id       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'succeeded', 'declined', 'failed', 'dead')),
    attempt         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (event_id, plugin_id)
) STRICT;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
