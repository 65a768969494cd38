"""python -m noxrunner: the noxrc command."""

import sys

from noxrunner.cli import main

sys.exit(main())
