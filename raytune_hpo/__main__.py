"""``python -m raytune_hpo``: the ``raytune-hpo`` command, for job scripts that name their Python."""

import sys

from raytune_hpo.cli import main

if __name__ == "__main__":
    sys.exit(main())
