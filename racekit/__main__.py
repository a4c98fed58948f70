"""``python -m racekit`` is the same program as the ``racekit`` script."""

from racekit.interrupts import main

if __name__ == "__main__":
    main()
