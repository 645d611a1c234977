"""``Broadcaster``: fan-out with bounded channels; a listener made with ``listen`` hears from the moment it is
made (an RPC head subscription's answer goes out before its pump runs) and is dropped once it closes."""

from __future__ import annotations

from node.broadcast import Broadcaster


async def test_a_listener_hears_what_is_published_after_it_is_made_and_is_dropped_once_closed():
    heads: Broadcaster[int] = Broadcaster(buffer=4)
    heads.publish(0)  # before it: not heard
    listener, stop = heads.listen()
    heads.publish(1)
    heads.publish(2)
    assert [listener.receive_nowait(), listener.receive_nowait()] == [1, 2] and len(heads) == 1
    listener.close()
    heads.publish(3)
    assert len(heads) == 0
    _, stop = heads.listen()
    stop()  # dropped at once, with nothing published meanwhile
    assert len(heads) == 0


async def test_a_listener_a_whole_buffer_behind_is_cut_off_after_what_it_had():
    heads: Broadcaster[int] = Broadcaster(buffer=2)
    with heads.subscribe() as listener:
        for item in range(3):
            heads.publish(item)
        assert [item async for item in listener] == [0, 1] and len(heads) == 0
