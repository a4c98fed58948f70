"""A cache installed outside the project (tests put this folder on PYTHONPATH): racekit
does not rewrite it unless it is named. Its ``__setitem__`` is an unlocked
read-modify-write of ``size``, reached through ``cache[key] = value``."""


class Cache:
    def __init__(self):
        self.size = 0
        self.data = {}

    def __setitem__(self, key, value):
        size = self.size
        self.data[key] = value
        self.size = size + 1
