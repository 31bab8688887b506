"""A host that hangs: a port on 127.0.0.1 that accepts connections and never answers."""

from __future__ import annotations

import contextlib
import socket
import threading


@contextlib.contextmanager
def silent_host():
    """Yield a port on 127.0.0.1 that accepts connections and never says a word; close it all afterwards."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
