"""The crash points the fault suite arms (``dalston.faults``): each crash window of the
pipeline, and the start of every stage. The cluster arms them all; the crash-window test
asserts each one fired."""

FAULT_POINTS = (
    "prepare.before_dispatch",
    "prepare.after_dispatch",
    "prepare.after_done",
    "merge.before_complete",
    "merge.after_complete",
    "prepare.after_begin",
    "transcribe.after_begin",
    "align.after_begin",
    "diarize.after_begin",
    "merge.after_begin",
)
