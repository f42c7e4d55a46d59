"""SIGINT and SIGTERM during a batch run: both interrupt it; the cleanup after them completes."""
from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[list[int]]:
    """SIGINT and SIGTERM both interrupt the run (KeyboardInterrupt); yields the signals received.

    After the first signal both are ignored, so that removing the unfinished
    version and releasing the lock cannot be cut short.
    """
    received: list[int] = []

    def interrupt(signum, frame):
        received.append(signum)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def quiet_after_a_signal(record: logging.LogRecord) -> bool:
        # Beam logs the interrupted step with a traceback; the run reports the interruption in
        # one line.
        return not (received and record.name.startswith("apache_beam"))

    try:
        previous = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(quiet_after_a_signal)
    try:
        yield received
    finally:
        for handler in handlers:
            handler.removeFilter(quiet_after_a_signal)
        for number, previous_handler in previous.items():
            signal.signal(number, previous_handler)
