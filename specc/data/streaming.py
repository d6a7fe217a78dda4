"""Which splits are read while training rather than held in memory: one question, three kinds of source."""

from __future__ import annotations

from typing import Any


def is_streamed(part: Any) -> bool:
    """Whether a split is read while training (an image folder, TFRecord files, a CSV file), not held in memory."""
    from specc.data.csv_stream import is_csv_rows
    from specc.data.records import is_records
    from specc.data.stream import is_stream

    return is_stream(part) or is_records(part) or is_csv_rows(part)
