import sys
from pathlib import Path

# The SMTP test server of tests/notifications serves the worker tests too.
sys.path.insert(0, str(Path(__file__).parents[1] / "notifications"))
