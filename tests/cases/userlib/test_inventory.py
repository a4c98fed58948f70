"""The inventory library tested from Python, as its own developers would."""

import racekit
from inventory import config
from inventory.bank import Account, transfer, transfer_ordered
from inventory.cache import Cache, LockedCache
from inventory.pool import LockedPool, Pool
from inventory.stats import Hits, LockedHits


@racekit.race_test(expect=2, racy=True)
def test_hits_lose_an_update(race):
    hits = Hits()
    race.thread(hits.record)
    race.thread(hits.record)
    race.outcome(lambda: hits.total)


@racekit.race_test(expect=2)
def test_locked_hits_count_every_hit(race):
    hits = LockedHits()
    race.thread(hits.record)
    race.thread(hits.record)
    race.outcome(lambda: hits.total)


@racekit.race_test(expect=1, racy=True)
def test_cache_computes_twice(race):
    cache = Cache(str.upper)
    race.thread(cache.get, "apple", count=2)
    race.outcome(lambda: cache.computed)


@racekit.race_test(expect=1)
def test_locked_cache_computes_once(race):
    cache = LockedCache(str.upper)
    race.thread(cache.get, "apple", count=2)
    race.outcome(lambda: cache.computed)


@racekit.race_test(expect=[0, 1], racy=True)
def test_pool_hands_out_one_connection_twice(race):
    pool = Pool(2)
    race.thread(pool.acquire, count=2)
    race.outcome(lambda: sorted(pool.handed))


@racekit.race_test(expect=[0, 1])
def test_locked_pool_hands_out_each_once(race):
    pool = LockedPool(2)
    race.thread(pool.acquire, count=2)
    race.outcome(lambda: sorted(pool.handed))


@racekit.race_test(expect=1, racy=True)
def test_singleton_created_twice(race):
    race.thread(config.get_config, count=3)
    race.outcome(lambda: config.created)


@racekit.race_test(expect=200, racy=True)
def test_opposite_transfers_deadlock(race):
    alice, bob = Account(1, 100), Account(2, 100)
    race.thread(transfer, alice, bob, 10)
    race.thread(transfer, bob, alice, 10)
    race.outcome(lambda: alice.balance + bob.balance)


@racekit.race_test(expect=200)
def test_ordered_transfers_finish(race):
    alice, bob = Account(1, 100), Account(2, 100)
    race.thread(transfer_ordered, alice, bob, 10)
    race.thread(transfer_ordered, bob, alice, 10)
    race.outcome(lambda: alice.balance + bob.balance)
