"""What a specialist returns to the supervisor."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpecialistAnswer:
    """Markdown section(s) from one specialist and the entities it resolved (for follow-ups)."""

    agent: str
    markdown: str
    entities: dict = field(default_factory=dict)
