"""``python -m numrnn``: the same as the ``numrnn`` command."""

from .cli import main

raise SystemExit(main())
