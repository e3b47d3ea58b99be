"""Commands added by later parts of gankit (evaluation, data tools); registered into the CLI."""

from __future__ import annotations

EXTRA_COMMANDS: dict = {}
