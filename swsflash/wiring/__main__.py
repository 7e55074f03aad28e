"""``python -m swsflash.wiring``: print the wiring, or regenerate wiring/*.svg."""

from .regenerate import main

raise SystemExit(main())
