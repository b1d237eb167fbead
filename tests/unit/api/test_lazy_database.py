"""The API starts on every takeover: loading it must not load the database libraries
(about a second here), which come in the background once it serves (pvc.db.prepared)."""

from __future__ import annotations

import subprocess
import sys


def test_loading_the_api_loads_no_database_library() -> None:
    code = ("import sys, pvc.api.app, pvc.api.main; "
            "print(sorted(m for m in ('sqlalchemy', 'psycopg', 'alembic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
