"""The `homefire` command. Importing this package is cheap: click loads inside `main()`."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.util import find_spec


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; exits with the command's status."""
    missing = [name for name in ("click", "rich") if find_spec(name) is None]
    if missing:
        sys.stderr.write(
            f"the homefire command needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: pip install 'homefire[cli]'\n"
        )
        raise SystemExit(1)
    from homefire.cli._app import app

    app.main(args=list(argv) if argv is not None else None, prog_name="homefire")
