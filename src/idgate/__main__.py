"""``python -m idgate`` is the ``idgate`` command."""

from idgate.cli import main

main()
