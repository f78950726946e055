"""ruff (config in pyproject.toml) is part of the suite, so style drift fails CI."""

import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_ruff_check_is_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "."], cwd=settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
