"""`python -m node_adapter` runs the `agora-node` command line."""

import sys

from node_adapter.cli import main

sys.exit(main())
