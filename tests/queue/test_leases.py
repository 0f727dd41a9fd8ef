"""Leases against a real Redis: one holder, expiry, hand-over of the token between clients."""

from __future__ import annotations

import time

import redis

from printfleet.queue.leases import Lease, printer_lease_name


def test_one_holder_at_a_time_and_token_handover(redis_url: str) -> None:
    monitor_a = redis.Redis.from_url(redis_url)
    monitor_b = redis.Redis.from_url(redis_url)
    worker = redis.Redis.from_url(redis_url)
    name = printer_lease_name("mk3s-1")
    lease_a = Lease(monitor_a, name, ttl_s=5)
    assert lease_a.acquire()
    assert not Lease(monitor_b, name, ttl_s=5).acquire()
    carried = Lease(worker, name, ttl_s=5, token=lease_a.token)
    assert carried.is_held() and carried.extend(10)
    assert 5 < monitor_b.pttl(name) / 1000 <= 10
    assert not Lease(monitor_b, name, ttl_s=5, token="forged").release()
    assert carried.release()
    assert not lease_a.release()  # already given back
    assert Lease(monitor_b, name, ttl_s=5).acquire()


def test_an_expired_lease_can_be_taken_and_the_old_holder_knows(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    name = printer_lease_name("mini-1")
    old = Lease(client, name, ttl_s=0.2)
    assert old.acquire()
    time.sleep(0.3)
    new = Lease(client, name, ttl_s=5)
    assert new.acquire()
    assert not old.is_held() and not old.extend() and not old.release()
    assert new.is_held()
