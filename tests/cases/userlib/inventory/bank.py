import threading


class Account:
    def __init__(self, number, balance):
        self.number = number
        self.balance = balance
        self.lock = threading.Lock()


def transfer(source, target, amount):
    """Locks the source, then the target: two opposite transfers can deadlock."""
    with source.lock:
        with target.lock:
            source.balance -= amount
            target.balance += amount


def transfer_ordered(source, target, amount):
    """The same transfer with the locks always taken in account-number order."""
    first, second = sorted((source, target), key=lambda account: account.number)
    with first.lock:
        with second.lock:
            source.balance -= amount
            target.balance += amount
