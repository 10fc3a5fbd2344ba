"""The direct feedback rules' training step, at its former address.

It lives in `urfbtf.rules.direct` with the rules of its family; this module
keeps `urfbtf.direct.DirectFeedbackModel` (named in README.md and used by
existing code) importable.
"""

from urfbtf.rules.direct import OUTPUT_SIGNALS, DirectFeedbackModel, direct_signal

__all__ = ["OUTPUT_SIGNALS", "DirectFeedbackModel", "direct_signal"]
