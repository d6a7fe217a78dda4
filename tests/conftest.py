import os
import sys
from pathlib import Path

# Keras reads ~/.keras/keras.json when this is unset; tests that import it must not depend on that.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
