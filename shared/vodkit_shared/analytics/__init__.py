"""The analytics port (playback samples and what they add up to) and its adapters."""

from vodkit_shared.analytics.factory import open_analytics
from vodkit_shared.analytics.port import (
    KINDS,
    POSITION_BUCKET_S,
    STARTUP_BUCKETS,
    AnalyticsStore,
    DayFigures,
    Figures,
    HistogramBucket,
    Kind,
    PositionBucket,
    QualityFigures,
    Report,
    Sample,
    Scope,
    VideoBufferHealth,
    day_of,
    nearest_rank,
)

__all__ = [
    "KINDS",
    "POSITION_BUCKET_S",
    "STARTUP_BUCKETS",
    "AnalyticsStore",
    "DayFigures",
    "Figures",
    "HistogramBucket",
    "Kind",
    "PositionBucket",
    "QualityFigures",
    "Report",
    "Sample",
    "Scope",
    "VideoBufferHealth",
    "day_of",
    "nearest_rank",
    "open_analytics",
]
