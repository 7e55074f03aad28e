"""``python -m swsflash`` is the ``swsflash`` command."""

from .cli import main

main()
