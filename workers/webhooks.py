"""Worker for the ``webhooks`` queue: ``python -m workers.webhooks`` (see ``workers/_launch.py``).

Delivers native and ElevenLabs webhooks (``dalston.webhooks``); threads, since each
delivery mostly waits on its receiver.
"""

from workers._launch import main

QUEUE = "webhooks"

if __name__ == "__main__":
    main(QUEUE)
