-- Why a conversation has no transcript although it has audio: the transcription provider was
-- down, too slow, or answered garbage. Null when transcription succeeded or never ran.
ALTER TABLE conversations ADD COLUMN transcription_error TEXT;
