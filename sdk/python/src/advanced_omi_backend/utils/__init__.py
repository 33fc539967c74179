"""`advanced_omi_backend.utils`: the original's helpers that plugins import."""
