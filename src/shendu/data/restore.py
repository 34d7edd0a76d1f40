"""A run's stored preprocessing (``data.json``) back as the object that wrote it: table/image, text or series."""

from __future__ import annotations

from typing import Any

from shendu.data.preprocessing import Preprocessing
from shendu.data.series_loading import SeriesPreprocessing
from shendu.data.text_preprocessing import TextPreprocessing

KINDS = {"text": TextPreprocessing, "series": SeriesPreprocessing}


def restore_preprocessing(record: dict[str, Any]) -> Any:
    """``record["kind"]`` "text" -> TextPreprocessing, "series" -> SeriesPreprocessing, none -> Preprocessing."""
    return KINDS.get(record.get("kind"), Preprocessing).from_dict(record)


__all__ = ["restore_preprocessing"]
