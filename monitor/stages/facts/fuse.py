"""An event's facts from its stories' facts (pure): as reports arrive, each field takes the
value most of them give (a report's ``Fact.weight`` is its vote); the vague value of a field
("ballistic" for a missile class) only when no report is more specific; ties go to the earlier
report (between dates, to the earlier day).
Each fused fact keeps the quote and the story of its first report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .extract import Fact

VAGUE = {"weapon_class": {"ballistic"}}
EARLIEST = ("date",)  # fields whose ties go to the earliest value, not the earliest report
LISTS = ("targets", "measures")  # fields whose value is a list: fused item by item
MAX_ITEMS = 5
# Facts whose first report about an event, or a change of whose fused value, is worth an update
# alert (alerts.update_spacing); and values that are news whenever a field takes them.
MATERIAL_FACTS = ("count", "weapon")
MATERIAL_CHANGES = ("count", "weapon", "weapon_class")
MATERIAL_VALUES = {"outcome": "failure"}


@dataclass(frozen=True, slots=True)
class Fused:
    value: str | int
    quote: str
    article: int  # the story that first gave the value
    reports: int  # how many stories gave it


def fuse(reports: Iterable[tuple[int, dict[str, Fact]]]) -> dict[str, Fused]:
    """Fuse (story id, facts) pairs given in arrival order."""
    votes: dict[str, Counter[str | int]] = {}  # field -> value -> stories giving it
    weights: dict[str, dict[str | int, float]] = {}  # ... and what they weigh (Fact.weight)
    first: dict[tuple[str, str | int], tuple[int, str, int]] = {}
    for order, (article, facts) in enumerate(reports):
        for field, fact in facts.items():
            votes.setdefault(field, Counter())[fact.value] += 1
            weighed = weights.setdefault(field, {})
            weighed[fact.value] = weighed.get(fact.value, 0.0) + fact.weight
            first.setdefault((field, fact.value), (order, fact.quote, article))
    fused: dict[str, Fused] = {}
    for field in LISTS:
        items: Counter[str] = Counter()
        for value, n in votes.pop(field, Counter()).items():
            for item in str(value).split(", "):
                items[item] += n
        if items:
            best = [item for item, _ in items.most_common(MAX_ITEMS)]
            first_report = min(
                (order_quote for (f, v), order_quote in first.items() if f == field), key=lambda x: x[0]
            )
            fused[field] = Fused(
                value=", ".join(best), quote=first_report[1], article=first_report[2], reports=items[best[0]]
            )
    for field, counts in votes.items():
        vague = VAGUE.get(field, set())
        candidates = {v: n for v, n in counts.items() if v not in vague} or dict(counts)
        weigh = weights[field]
        if field in EARLIEST:  # a tie between days: reports can be dated later, never earlier
            value = max(candidates, key=lambda v: (weigh[v], -date.fromisoformat(str(v)).toordinal()))
        else:
            value = max(candidates, key=lambda v: (weigh[v], -first[(field, v)][0]))
        _, quote, article = first[(field, value)]
        fused[field] = Fused(value=value, quote=quote, article=article, reports=candidates[value])
    return fused


def summary(facts: dict[str, object]) -> str:
    """One line an analyst reads on a phone: North Korea · 2 × SRBM (KN-23) · per JCS."""
    parts: list[str] = []
    if "actor" in facts:
        parts.append(str(facts["actor"]))
    weapon = str(facts.get("weapon_class", "")) or ("missile" if "count" in facts else "")
    if weapon in ("ballistic",):
        weapon = "ballistic missile"
    if "weapon" in facts:
        weapon = f"{weapon} ({facts['weapon']})" if weapon else str(facts["weapon"])
    if weapon:
        parts.append(f"{facts['count']} × {weapon}" if "count" in facts else weapon)
    if "authority" in facts:
        detail = f" ({facts['authority_detail']})" if "authority_detail" in facts else ""
        parts.append(f"{facts['authority']}{detail}")
    if "action" in facts:
        target = f" on {facts['target_country']}" if "target_country" in facts else ""
        parts.append(f"{facts['action']}{target}")
    if "targets" in facts:
        parts.append(f"targets: {facts['targets']}")
    if "measures" in facts:
        parts.append(str(facts["measures"]))
    if "site" in facts or "landing" in facts:  # Sunan → Sea of Japan; from Sunan; → Sea of Japan
        site, landing = facts.get("site"), facts.get("landing")
        parts.append(
            f"{site} → {landing}" if site and landing else f"from {site}" if site else f"→ {landing}"
        )
    if facts.get("outcome") == "failure":
        parts.append("failed")
    if "apogee_km" in facts:
        parts.append(f"apogee {facts['apogee_km']} km")
    if "range_km" in facts:
        parts.append(f"range {facts['range_km']} km")
    if "date" in facts:
        parts.append(str(facts["date"]))
    if "reported_by" in facts:
        parts.append(f"per {facts['reported_by']}")
    return " · ".join(parts)


def material_news(
    before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]
) -> tuple[str, ...]:
    """What a story changed in its event's fused facts that is news: a count or named missile
    first reported, a count, missile or class that changed ("count: 10 → 18"; not "ballistic"
    made specific, which grouping reports as a class first named), a failure."""
    news = []
    for field, fact in after.items():
        value, old = fact["value"], before.get(field, {}).get("value")
        if old is None and field in MATERIAL_FACTS:
            news.append(f"{field}: {value}")
        elif old is not None and old != value and field in MATERIAL_CHANGES:
            if old not in VAGUE.get(field, ()):
                news.append(f"{field}: {old} → {value}")
        elif old != value and MATERIAL_VALUES.get(field) == value:
            news.append(f"{field}: {value}")
    return tuple(news)
