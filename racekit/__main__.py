"""The ``racekit`` command (and ``python -m racekit``): signals first, then the program."""

from __future__ import annotations

import sys

from racekit import interrupts


def main() -> None:
    interrupts.install()  # before the heavy imports: a Ctrl-C while they run ends quietly
    try:
        from racekit.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # before the CLI could take over (an import, say)
        sys.stderr.write("interrupted\n")
        sys.exit(interrupts.exit_code())


if __name__ == "__main__":
    main()
