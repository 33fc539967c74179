-- A user's token generation: bumped when the password changes, so tokens issued before the
-- change stop working (a token carries the generation it was issued in).
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
