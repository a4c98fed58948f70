"""Private (name-mangled) attributes: ``self.__count`` means ``self._Counter__count``."""

import threading


class Counter:
    __count = 0  # class-level default, shadowed per instance on the first increment

    def __init__(self):
        self.__items = []
        self.__lock = threading.Lock()

    def bump(self):
        self.__count += 1
        self.__items.append(self.__count)

    def bump_locked(self):
        with self.__lock:
            self.__count += 1
            self.__items.append(self.__count)

    @property
    def count(self):
        return self.__count

    @property
    def items(self):
        return list(self.__items)

    class Inner:
        __hits = 0

        def hit(self):
            self.__hits += 1
            return self.__hits
