"""Where tinygen's non-Python assets live (templates/, firmware/ at the project root)."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = PROJECT_ROOT / "templates"
FIRMWARE_DIR = PROJECT_ROOT / "firmware"
