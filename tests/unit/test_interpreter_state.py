"""What a trial finds of the interpreter: the same whatever earlier trials of its worker did."""

from __future__ import annotations


def test_threads_a_trial_makes_are_named_as_in_a_fresh_program_whatever_ran_before():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from racekit.runtime import interpreter_state

    for _ in range(3):
        threading.Thread(target=print)  # earlier trials' threads
        ThreadPoolExecutor(1).shutdown()
    for _ in range(2):
        with interpreter_state.preserved():
            assert threading.Thread().name == "Thread-1"
            with ThreadPoolExecutor(1) as pool:
                assert pool.submit(lambda: threading.current_thread().name).result() == "ThreadPoolExecutor-0_0"
