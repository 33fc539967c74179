-- Full-text search (FTS5, ranked by BM25) over memories and over each segment of each
-- conversation's transcript. Triggers keep both indexes in step with every insert, edit and
-- delete, inside the transaction of the change.

-- Memories: an index over the table's own `content`.
CREATE VIRTUAL TABLE memory_index USING fts5(
    content, content = 'memories', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER memory_index_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memory_index (rowid, content) VALUES (new.rowid, new.content);
END;
CREATE TRIGGER memory_index_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memory_index (memory_index, rowid, content) VALUES ('delete', old.rowid, old.content);
END;
CREATE TRIGGER memory_index_update AFTER UPDATE OF content ON memories BEGIN
    INSERT INTO memory_index (memory_index, rowid, content) VALUES ('delete', old.rowid, old.content);
    INSERT INTO memory_index (rowid, content) VALUES (new.rowid, new.content);
END;
INSERT INTO memory_index (memory_index) VALUES ('rebuild');

-- Segments: one row per segment of `conversations.segments` (a JSON array), rewritten from
-- it whenever it changes, so a search hit names its conversation, time and speaker. Not
-- STRICT: a provider's odd `start` or `speaker` must not refuse the transcript it came with.
CREATE TABLE transcript_segments (
    id              INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    offset_seconds  REAL,
    speaker         TEXT,
    text            TEXT NOT NULL
);
CREATE INDEX transcript_segments_by_conversation ON transcript_segments (conversation_id);
CREATE VIRTUAL TABLE segment_index USING fts5(
    text, content = 'transcript_segments', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER segment_index_insert AFTER INSERT ON transcript_segments BEGIN
    INSERT INTO segment_index (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER segment_index_delete AFTER DELETE ON transcript_segments BEGIN
    INSERT INTO segment_index (segment_index, rowid, text) VALUES ('delete', old.id, old.text);
END;

CREATE TRIGGER conversation_segments_insert AFTER INSERT ON conversations BEGIN
    INSERT INTO transcript_segments (conversation_id, user_id, started_at, offset_seconds, speaker, text)
    SELECT new.conversation_id, new.user_id, new.created_at, json_extract(value, '$.start'),
           json_extract(value, '$.speaker'), json_extract(value, '$.text')
    FROM json_each(new.segments)
    WHERE json_type(value, '$.text') = 'text' AND trim(json_extract(value, '$.text')) != '';
END;
CREATE TRIGGER conversation_segments_update AFTER UPDATE OF segments ON conversations BEGIN
    DELETE FROM transcript_segments WHERE conversation_id = old.conversation_id;
    INSERT INTO transcript_segments (conversation_id, user_id, started_at, offset_seconds, speaker, text)
    SELECT new.conversation_id, new.user_id, new.created_at, json_extract(value, '$.start'),
           json_extract(value, '$.speaker'), json_extract(value, '$.text')
    FROM json_each(new.segments)
    WHERE json_type(value, '$.text') = 'text' AND trim(json_extract(value, '$.text')) != '';
END;
CREATE TRIGGER conversation_segments_delete AFTER DELETE ON conversations BEGIN
    DELETE FROM transcript_segments WHERE conversation_id = old.conversation_id;
END;

-- What was there before this migration.
INSERT INTO transcript_segments (conversation_id, user_id, started_at, offset_seconds, speaker, text)
SELECT c.conversation_id, c.user_id, c.created_at, json_extract(s.value, '$.start'),
       json_extract(s.value, '$.speaker'), json_extract(s.value, '$.text')
FROM conversations AS c, json_each(c.segments) AS s
WHERE json_type(s.value, '$.text') = 'text' AND trim(json_extract(s.value, '$.text')) != '';
