"""``python -m cloud.workers``: run one arq worker until SIGINT/SIGTERM."""

import sys

from cloud.workers.main import main

sys.exit(main())
