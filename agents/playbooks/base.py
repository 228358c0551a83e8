"""What a specialist returns to the supervisor."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SpecialistAnswer:
    """Markdown section(s) from one specialist, the entities it resolved (for follow-ups) and, for
    the data specialist, how it read the question (``Run.interpretation``: status answered or
    declined, the semantic query, unmapped parts, words not used)."""

    agent: str
    markdown: str
    entities: dict = field(default_factory=dict)
    interpretation: dict | None = None
    # Charts the section offers (agents.charts.ChartSpec as JSON dicts), stored on Run.charts.
    charts: list[dict] = field(default_factory=list)
