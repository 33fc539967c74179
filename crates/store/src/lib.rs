//! SQLite storage for Chronicle: users, conversations, memories, plugin documents, event log.
