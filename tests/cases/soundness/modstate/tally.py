"""A helper module with state of its own: each trial must import it afresh."""

calls = 0


def record():
    global calls
    calls += 1
    return calls
