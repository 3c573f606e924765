"""How right an event's fused facts are against a reference (``monitor eval-events``). Pure.

The reference is a labelled file's event line (``events-dev-facts.jsonl``): the CNS/NTI
database's fields for North Korean launches, what was reported for other launches and for
sanctions actions. Per field, a fused value is right when: the date is within a day of the
event's (the database's UTC date; Korean reports give the next day); the actor names the
launcher; the count is exact; the class is one of the database's classes (events the database
calls Unknown are left out); the site lies within 50 km of one of its facilities; apogee and
range are within 15 % of its maxima; the outcome is one the database gives for one of the
launch's missiles (events it calls unknown are left out); a named target is one the reference
names (or a word of more than three letters of it is); the authority is the one the reference
names; the action is the reference's first word; the target country is the country concerned.
"""

from __future__ import annotations

import math
import re
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
        if actor:
            out["actor"] = bool(ours) and (ours in actor or actor.split(" (")[0] in ours)
        if isinstance(ref.get("count"), int):
            out["count"] = facts.get("count") == ref["count"]
        types = ref.get("missile_types")
        if isinstance(types, dict) and "Unknown" not in types:
            out["weapon_class"] = facts.get("weapon_class") in types
        sites = ref.get("facility_latlon")
        if isinstance(sites, dict) and sites:
            out["site"] = _near(facts.get("site_latlon"), list(sites.values()))
        outcomes = ref.get("outcome")
        if isinstance(outcomes, dict) and set(outcomes) - {"unknown"}:
            out["outcome"] = facts.get("outcome") in outcomes
        for ours, theirs in (("apogee_km", "max_apogee_km"), ("range_km", "max_distance_km")):
            expected = ref.get(theirs)
            if isinstance(expected, int | float) and expected > 0:
                value = facts.get(ours)
                out[ours] = isinstance(value, int | float) and abs(value - expected) <= 0.15 * expected
    elif topic == "sanctions":
        authority = str(ref.get("authority", ""))
        words = AUTHORITY_WORDS.get(str(facts.get("authority", "")), ())
        out["authority"] = any(w in f"{authority} " for w in words)
        action = str(ref.get("action", "")).split()
        out["action"] = bool(action) and facts.get("action") == action[0]
        named = [_aliases(str(t).lower()) for t in ref.get("targets", []) if isinstance(t, str)]
        # A named target: one the story names, or the country when the reference lists it.
        listed = f"{facts.get('targets', '')}, {facts.get('target_country', '')}"
        found = [t.lower() for t in listed.split(", ") if len(t) > 2]
        if named:
            out["target"] = any(_names(o, n) for o in found for n in named)
        target = str(facts.get("target_country", "")).split(" (")[0]
        out["target_country"] = bool(target) and target.split()[0] in str(ref.get("country_concerned", ""))
    return out


# Names a reference writes for what we name otherwise.
ALIASES = {"dprk": "north korea", "prc": "china", "rok": "south korea"}


def _aliases(text: str) -> str:
    """The reference's text with its aliases spelt out as ours ("DPRK" also as "north korea")."""
    extra = [ours for theirs, ours in ALIASES.items() if re.search(rf"\b{theirs}\b", text)]
    return ", ".join([text, *extra])


def _names(ours: str, theirs: str) -> bool:
    """Whether our target is (or shares a word of more than three letters with) theirs."""
    return ours in theirs or any(len(w) > 3 and w in theirs for w in ours.split())


def _near(latlon: object, references: list[object], km: float = 50.0) -> bool:
    """Whether "lat,lon" lies within ``km`` of one of the reference coordinates."""
    try:
        lat, lon = (float(x) for x in str(latlon).split(","))
    except ValueError:
        return False
    for ref in references:
        if not isinstance(ref, list | tuple) or len(ref) != 2:
            continue
        r_lat, r_lon = float(ref[0]), float(ref[1])
        dlat, dlon = math.radians(r_lat - lat), math.radians(r_lon - lon)
        h = (
            math.sin(dlat / 2) ** 2
            + math.cos(math.radians(lat)) * math.cos(math.radians(r_lat)) * math.sin(dlon / 2) ** 2
        )
        if 2 * 6371 * math.asin(math.sqrt(h)) <= km:
            return True
    return False
