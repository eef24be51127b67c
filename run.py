"""preopen's entry point: ``python run.py demo|serve|prefetch|calendar|seed``.

A host may also import it; the library's API is the ``preopen`` package.
"""

import sys

from preopen.cli import main

if __name__ == "__main__":
    sys.exit(main())
