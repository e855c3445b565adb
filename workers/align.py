"""Worker for the ``align`` queue: ``python -m workers.align`` (see ``workers/_launch.py``)."""

from workers._launch import main

QUEUE = "align"

if __name__ == "__main__":
    main(QUEUE)
