"""Analysis of one run: pure functions from the request and event tables to typed, frozen results.

No files, clocks, network or printing here; see :func:`summarize` for the whole pipeline.
"""

from chaoskit.analysis.frames import AnalysisError
from chaoskit.analysis.summary import RunSummary, summarize
from chaoskit.analysis.verdict import SloTargets

__all__ = ["AnalysisError", "RunSummary", "SloTargets", "summarize"]
