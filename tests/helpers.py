from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures" / "events"


def load_event(name: str) -> dict[str, Any]:
    """A host payload from tests/fixtures/events/<name>.json, parsed."""
    return json.loads((FIXTURES / f"{name}.json").read_text())


def load_body(name: str) -> str:
    """The same payload as the exact text a host sends."""
    return (FIXTURES / f"{name}.json").read_text()
