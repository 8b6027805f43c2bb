"""Run Tierflow's worker: ``python worker.py [--address …] [--cache N] [--no-sandbox] …``.

A thin shell over :func:`tierflow.worker.main` (the installed command is ``tierflow worker``),
kept at the top of the repository where the design card puts it.
"""

from tierflow.worker import main

if __name__ == "__main__":
    main()
