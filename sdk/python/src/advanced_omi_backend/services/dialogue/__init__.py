"""`advanced_omi_backend.services.dialogue`: the original's shared multi-turn voice tasks."""
