"""``python -m torch_estimator.cli``: the ``torch-estimator`` command."""

import sys

from torch_estimator.cli.main import main

if __name__ == "__main__":  # importing this module (e.g. to collect doctests) runs nothing
    sys.exit(main())
