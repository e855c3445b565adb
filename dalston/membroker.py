"""Embedded mode's broker: Celery's in-memory transport with the priorities Redis has.

kombu's memory transport keeps one FIFO per queue and no priorities, and its one worker
thread takes the queues in turn, so a short job's tasks would wait behind a long job's
chunks. Here each queue is a heap ordered by (priority, arrival), priority 0 first as with
Redis, and a queue asked for a message yields only when its head is the most urgent among
the queues this channel consumes: the worker always runs the most urgent task, whichever
queue it is on. ``celeryconfig`` selects it (``broker_transport``) for ``memory://``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from queue import Empty

from kombu.transport import memory, virtual


class Channel(memory.Channel):
    """Heaps of ``(priority, sequence, message)`` per queue, shared by the process."""

    queues: dict[str, list] = {}
    _lock = threading.RLock()
    _sequence = itertools.count()

    def _new_queue(self, queue, **kwargs):
        with self._lock:
            self.queues.setdefault(queue, [])

    def _queue_for(self, queue):
        with self._lock:
            return self.queues.setdefault(queue, [])

    def _push(self, queue, message):
        priority = self._get_message_priority(message)
        with self._lock:
            heapq.heappush(self._queue_for(queue), (priority, next(self._sequence), message))

    def _put(self, queue, message, **kwargs):
        self._push(queue, message)

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs):
        for queue in self._lookup(exchange, routing_key):
            self._push(queue, message)

    def _get(self, queue, timeout=None):
        with self._lock:
            heap = self._queue_for(queue)
            if not heap:
                raise Empty()
            heads = [self.queues[q][0][:2] for q in self._active_queues if self.queues.get(q)]
            if heads and heap[0][:2] > min(heads):
                raise Empty()  # another consumed queue holds something more urgent
            return heapq.heappop(heap)[2]

    def _size(self, queue):
        with self._lock:
            return len(self._queue_for(queue))

    def _purge(self, queue):
        with self._lock:
            heap = self._queue_for(queue)
            size = len(heap)
            heap.clear()
            return size

    def close(self):
        virtual.Channel.close(self)


class Transport(memory.Transport):
    Channel = Channel
    global_state = virtual.BrokerState()
