"""Worker for the ``prepare`` queue: ``python -m workers.prepare``; see workers/_launch.py."""

from workers._launch import main

QUEUE = "prepare"

if __name__ == "__main__":
    main(QUEUE)
