"""Stage 2, validate."""
