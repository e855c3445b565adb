"""``make eval``: accuracy of the offline engines on the shared fixtures and on synthetic speech.

``python -m tests.bench.evaluation`` runs the real engines in this process, the way the stage
functions call them (no Celery, no database), and prints markdown tables:

* **transcripts** — WER of each model on the recorded fixtures with a reference text
  (``references``), and whether a hint makes ``hotwords.mp3`` spell "ComfyUI";
* **diarization** — DER of the d-vector diarizer on the AMI excerpts against
  ``diarization.rttm`` (``metrics.der``), with the speaker count found automatically and
  with the true count given;
* **word timing** — start/end MAE of Whisper's word times and of the forced aligner on
  speech whose word boundaries are known exactly (``tests.bench.synth.timed_words``);
* **dialogue** — share of words given the right speaker on a two-voice espeak dialogue.

``metrics`` is the scoring, ``runner`` the measurements, ``report`` the tables.
"""
