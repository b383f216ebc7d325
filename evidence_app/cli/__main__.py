"""``python -m evidence_app.cli``: the same as the ``evidence`` command."""

from evidence_app.cli import main

main()
