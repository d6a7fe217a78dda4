"""Stage 3, lower."""
