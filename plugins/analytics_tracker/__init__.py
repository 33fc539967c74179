"""The guide's "Example 3: Analytics Tracker", run by the Python SDK."""

from .plugin import AnalyticsTrackerPlugin

__all__ = ["AnalyticsTrackerPlugin"]
