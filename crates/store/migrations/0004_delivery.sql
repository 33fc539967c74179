-- Durable delivery as built. 0001 sketched these tables and nothing ever wrote to them, so they
-- are recreated in the shape the dispatcher uses.
DROP TABLE deliveries;
DROP TABLE delivery_events;

-- A terminal event (`transcript.batch`, `memory.processed`, `conversation.complete`,
-- `conversation.starred`), written in the same transaction as the state change that produced
-- it. `seq` orders events; `lane` (the conversation, or the user) is the unit of ordering: the
-- events of one lane reach each plugin in `seq` order. `progress` is the chain's state after
-- each plugin (metadata so far, plugins passed, who stopped it), so a crash resumes at the
-- plugin that was in flight.
CREATE TABLE delivery_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL UNIQUE,
    event       TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    lane        TEXT NOT NULL,
    data        TEXT NOT NULL,
    progress    TEXT NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    enqueued_ms INTEGER NOT NULL,
    done_ms     INTEGER
) STRICT;
CREATE INDEX delivery_events_unfinished ON delivery_events (done, seq);

-- One row per (event, plugin the chain called or left waiting). The idempotency key handed to
-- the plugin is `event_id:plugin_id`. `in_chain` marks the attempt the chain itself is making
-- (after a crash the chain resumes it); other running rows are retries, put back to pending
-- by recovery. `extras` and `metadata` are what the plugin saw the first time, so a retry sees
-- them again.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    seq             INTEGER NOT NULL REFERENCES delivery_events (seq) ON DELETE CASCADE,
    lane            TEXT NOT NULL,
    plugin_id       TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'declined', 'failed', 'dead')),
    attempt         INTEGER NOT NULL DEFAULT 0,
    in_chain        INTEGER NOT NULL DEFAULT 0 CHECK (in_chain IN (0, 1)),
    extras          TEXT NOT NULL DEFAULT '{}',
    metadata        TEXT NOT NULL DEFAULT '{}',
    next_attempt_ms INTEGER,
    last_error      TEXT,
    updated_ms      INTEGER NOT NULL,
    UNIQUE (seq, plugin_id)
) STRICT;
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_ms);
CREATE INDEX deliveries_lane ON deliveries (lane, plugin_id, seq);

-- When `conversation.complete` was enqueued: a completed conversation without it was cut off
-- by a crash between its close and its announcement, and is finished again at start.
-- Conversations completed before this migration were announced in memory.
ALTER TABLE conversations ADD COLUMN announced_ms INTEGER;
UPDATE conversations SET announced_ms = 0 WHERE completed_at IS NOT NULL;
