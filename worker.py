"""Run Tierflow's worker: ``python worker.py [--address …] [--cache N] [--no-sandbox] …``.

A thin shell over ``tierflow worker`` (the installed command; ``--help`` lists the flags),
kept at the top of the repository where the design card puts it.
"""

import sys

from tierflow.cli.entry import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
