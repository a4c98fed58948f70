"""A user's own module, imported by a case: racekit must force switches in here too."""

calls = 0  # module state: each trial must see a fresh module


class Account:
    def __init__(self):
        global calls
        calls += 1
        self.balance = 0

    def deposit(self, amount):
        self.balance += amount

    def withdraw(self, amount):
        self.balance -= amount
