"""Worker for the ``transcribe`` queue: ``python -m workers.transcribe``; see workers/_launch.py."""

from workers._launch import main

QUEUE = "transcribe"

if __name__ == "__main__":
    main(QUEUE)
