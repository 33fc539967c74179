-- Sentence embeddings of memories and transcript segments, for semantic search beside the
-- full-text index. One vector per item and model: a text embedded by another model is
-- embedded again (the row is replaced). A vector goes with its text: a memory edited or
-- deleted, or a conversation's segments rewritten, lose theirs in the same transaction, and the
-- background embedder makes the new ones.
CREATE TABLE memory_vectors (
    memory_rowid INTEGER PRIMARY KEY,
    model        TEXT NOT NULL,
    vector       BLOB NOT NULL
) STRICT;
CREATE TABLE segment_vectors (
    segment_id INTEGER PRIMARY KEY,
    model      TEXT NOT NULL,
    vector     BLOB NOT NULL
) STRICT;
CREATE TRIGGER memory_vectors_delete AFTER DELETE ON memories BEGIN
    DELETE FROM memory_vectors WHERE memory_rowid = old.rowid;
END;
CREATE TRIGGER memory_vectors_update AFTER UPDATE OF content ON memories BEGIN
    DELETE FROM memory_vectors WHERE memory_rowid = old.rowid;
END;
CREATE TRIGGER segment_vectors_delete AFTER DELETE ON transcript_segments BEGIN
    DELETE FROM segment_vectors WHERE segment_id = old.id;
END;

-- A question about a time alone ("what did I discuss yesterday?") reads a window newest first.
CREATE INDEX transcript_segments_by_time ON transcript_segments (user_id, started_at);
CREATE INDEX IF NOT EXISTS memories_by_time ON memories (user_id, created_at);
