"""How right an event's fused facts are against a reference (``monitor eval-events``). Pure.

The reference is a labelled file's event line (``events-dev-facts.jsonl``): the CNS/NTI
database's fields for North Korean launches, what was reported for other launches and for
sanctions actions. Per field, a fused value is right when: the date is within a day of the
event's (the database's UTC date; Korean reports give the next day); the actor names the
launcher; the count is exact; the class is one of the database's classes (events the database
calls Unknown are left out); the authority is the one the reference names; the action is the
reference's first word; the target country is the country concerned.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

# How a reference names an authority: the words that, in its text, stand for ours.
AUTHORITY_WORDS = {
    "United States": ("US ", "U.S.", "United States", "Treasury", "OFAC", "State Department", "President"),
    "European Union": ("EU ", "EU,", "European"),
    "United Nations": ("UN ", "Security Council", "United Nations"),
    "United Kingdom": ("UK ", "United Kingdom", "Foreign Secretary"),
    "Japan": ("Japan",),
    "China": ("China", "PRC"),
}


def judge(facts: Mapping[str, object], reference: Mapping[str, object]) -> dict[str, bool]:
    """Field -> right or wrong, for the fields the reference can judge."""
    ref = reference.get("facts")
    ref = ref if isinstance(ref, dict) else {}
    topic, out = reference.get("topic"), {}
    when = str(reference.get("date") or "")
    if when:
        try:
            got = date.fromisoformat(str(facts.get("date")))
            out["date"] = abs((got - date.fromisoformat(when)).days) <= 1
        except ValueError:
            out["date"] = False
    if topic == "missile_launch":
        actor = str(reference.get("actor") or "")
        ours = str(facts.get("actor", ""))
        out["actor"] = bool(ours) and (ours in actor or actor.split(" (")[0] in ours)
        if isinstance(ref.get("count"), int):
            out["count"] = facts.get("count") == ref["count"]
        types = ref.get("missile_types")
        if isinstance(types, dict) and "Unknown" not in types:
            out["weapon_class"] = facts.get("weapon_class") in types
    elif topic == "sanctions":
        authority = str(ref.get("authority", ""))
        words = AUTHORITY_WORDS.get(str(facts.get("authority", "")), ())
        out["authority"] = any(w in f"{authority} " for w in words)
        action = str(ref.get("action", "")).split()
        out["action"] = bool(action) and facts.get("action") == action[0]
        target = str(facts.get("target_country", "")).split(" (")[0]
        out["target_country"] = bool(target) and target.split()[0] in str(ref.get("country_concerned", ""))
    return out
