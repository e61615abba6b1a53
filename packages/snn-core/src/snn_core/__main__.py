"""Run the ``snn`` command as ``python -m snn_core`` (also the script torchrun starts)."""

import sys

from snn_core.cli import main

sys.exit(main())
