-- Whether a user may sign in. Deactivating keeps the user's data but refuses their logins and,
-- with a new token generation, every token they hold.
ALTER TABLE users ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));
