"""The ``tsbot`` command lines of the README, for the tests that check them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
PREFIX = ".venv/bin/tsbot"


def readme_command_lines(text: str) -> list[str]:
    """The ``tsbot`` invocations in the ``bash`` blocks of a Markdown text, comments and shell redirections
    dropped; ``a && b`` gives two, and ``pause|resume|stop`` one per alternative."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for part in line.split("&&"):
                if not part.strip().startswith(PREFIX + " ") and part.strip() != PREFIX:
                    continue
                words = shlex.split(part, comments=True)[1:]
                if "<" in words:
                    words = words[: words.index("<")]
                choices = [i for i, w in enumerate(words) if "|" in w and not w.startswith("-")]
                if choices:
                    at = choices[0]
                    lines.extend(shlex.join([*words[:at], w, *words[at + 1 :]]) for w in words[at].split("|"))
                else:
                    lines.append(shlex.join(words))
    return lines
