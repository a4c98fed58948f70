"""A registry installed outside the project (tests put this folder on PYTHONPATH):
a dict subclass whose ``__missing__`` fills a slot on a miss, unlocked. racekit
does not rewrite it unless it is named; ``make`` is a plain function of it."""


class Registry(dict):
    def __missing__(self, key):
        made = self[key] = len(self) + 1
        return made


def make():
    return Registry()
