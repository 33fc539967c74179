"""`advanced_omi_backend.services`: the parts of the original's services that plugins import."""
