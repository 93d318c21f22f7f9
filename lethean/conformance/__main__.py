import sys

from lethean.conformance import main

sys.exit(main())
