"""Worker for the ``diarize`` queue: ``python -m workers.diarize``; see workers/_launch.py."""

from workers._launch import main

QUEUE = "diarize"

if __name__ == "__main__":
    main(QUEUE)
