"""Worker for the ``whisperx_full`` queue: ``python -m workers.whisperx_full``.

One solo process per GPU (see ``workers/_launch.py``); it needs the ``gpu`` extra and the
whisperX / pyannote weights (README: "Engines that need hub weights").
"""

from workers._launch import main

QUEUE = "whisperx_full"

if __name__ == "__main__":
    main(QUEUE)
