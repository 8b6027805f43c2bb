"""``python -m tierflow.cli``: the same as the ``tierflow`` console script."""

from tierflow.cli.entry import main

main()
