"""Tooling beside the package, not in it: the benchmark (``python -m tests.bench.bench``), the
accuracy evaluation (``python -m tests.bench.evaluation``) and the audio they and the tests
are built on — synthetic speech with known truth (``synth``) and a long recording of known
text (``longaudio``). Run from the repository root; nothing in ``dalston`` imports from here.
"""
