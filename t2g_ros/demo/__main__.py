"""``python -m t2g_ros.demo``: see ``t2g_ros.demo.run``."""

import sys

from t2g_ros.demo.run import main

sys.exit(main())
