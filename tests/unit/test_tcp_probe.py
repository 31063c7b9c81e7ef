"""The outside TCP probe (wizard.probes.tcp) against real sockets on this machine: an open
port, a closed one (RST), and a silent one (a listening socket whose accept queue is full:
the kernel drops the SYNs, as a firewall's drop rule does). A port that must be silent is
listened to for a wait the link's round trip sets, with several SYNs in it, so a lost first
SYN does not make an open port look filtered."""

from __future__ import annotations

import errno
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from wizard.probes.tcp import SILENCE_MIN_S, _state, probe_tcp, silence_wait


@pytest.fixture
def silent() -> Iterator[socket.socket]:
    """A port that drops every SYN: listening, backlog 0, its queue filled by one connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())
    yield listener
    filler.close()
    listener.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def timed(*args) -> tuple[str, float]:
    started = time.monotonic()
    state, _ = probe_tcp(*args)
    return state, time.monotonic() - started


def test_open_and_refused_come_back_at_once():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert timed("127.0.0.1", listener.getsockname()[1], 2.0, 3)[0] == "open"
    state, seconds = timed("127.0.0.1", closed_port(), 2.0, 3)
    assert state == "refused" and seconds < 0.5


def test_a_silent_port_is_filtered_after_the_wait_and_no_longer(silent):
    state, seconds = timed("127.0.0.1", silent.getsockname()[1], 0.6, 3)
    assert state == "filtered"
    assert 0.6 <= seconds < 1.0


def test_a_port_whose_first_syn_is_lost_still_answers_to_a_later_one(silent):
    """The queue frees 0.4 s in (a lost SYN, seen from outside): one SYN alone is judged
    filtered within 0.9 s (the kernel resends only after a second); three spread over it
    find the port open."""
    port = silent.getsockname()[1]

    def free_the_queue_later() -> None:
        time.sleep(0.4)
        accepted, _ = silent.accept()
        accepted.close()

    threading.Thread(target=free_the_queue_later).start()
    assert timed("127.0.0.1", port, 0.9, 3)[0] == "open"


def test_one_syn_alone_misses_a_port_whose_first_syn_is_lost(silent):
    port = silent.getsockname()[1]
    freeing = threading.Timer(0.4, lambda: silent.accept()[0].close())
    freeing.start()
    assert timed("127.0.0.1", port, 0.9, 1)[0] == "filtered"
    freeing.join()


def test_the_silence_wait_follows_the_answering_port(silent):
    with socket.create_server(("127.0.0.1", 0)) as answering:
        # A round trip of microseconds: the floor, far below the fixed 2 s it replaces.
        assert silence_wait("127.0.0.1", answering.getsockname()[1], 2.0) == SILENCE_MIN_S
    # The reference itself silent: nothing measured, the whole ceiling.
    assert silence_wait("127.0.0.1", silent.getsockname()[1], 1.0) == 1.0


def test_an_unreachable_address_is_worded_as_a_blocking_connect_said_it():
    """The evidence names the address and the system's words ("No route to host"), as the
    OSError of a blocking connect did, not an errno symbol."""
    assert _state(errno.EHOSTUNREACH, "192.0.2.9") == (
        "unreachable",
        "192.0.2.9: [Errno 113] No route to host",
    )
