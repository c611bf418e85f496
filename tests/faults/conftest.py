import sys
from pathlib import Path

# The suite's helper modules (fault_*.py) sit beside its tests.
sys.path.insert(0, str(Path(__file__).parent))
