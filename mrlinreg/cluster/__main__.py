import sys

from mrlinreg.cluster.cli import main

sys.exit(main())
