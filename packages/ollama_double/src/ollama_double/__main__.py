"""``python3 -m ollama_double`` runs the ``ollama`` command line of the double."""

import sys

from .cli import main

sys.exit(main())
