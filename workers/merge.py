"""Worker for the ``merge`` queue: ``python -m workers.merge`` (see ``workers/_launch.py``)."""

from workers._launch import main

QUEUE = "merge"

if __name__ == "__main__":
    main(QUEUE)
