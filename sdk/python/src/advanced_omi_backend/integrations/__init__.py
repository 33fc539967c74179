"""`advanced_omi_backend.integrations`: the original's clients for outside services."""
