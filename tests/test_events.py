"""Events: flagged stories grouped by the occurrence they report, one alert per event.

The pure stages (anchors, the online grouper, the figures) on hand-written stories; the store's
transaction with a real SQLite file; the CLI and the daemon as real subprocesses against feeds
and a json:// receiver on loopback."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.config import Settings, load_settings
from monitor.errors import ConfigError
from monitor.notify.render import render, render_batch, render_digest
from monitor.records import AlertKind, Article, ExtractionStatus, Feed, NewArticle, Verdict
from monitor.service.grouping import EventGrouping
from monitor.stages.group import Grouper, Tuning, anchors, sketch
from monitor.stages.group.cluster import FEATURES, Weights
from monitor.stages.group.learn import Labelled, fit, training_pairs
from monitor.stages.group.metrics import score_grouping
from monitor.stages.group.minhash import LSH, bands, minhash
from monitor.stages.group.sketch import NUM_PERM
from monitor.store import Store
from tests.conftest import MONITOR, ROOT, Receiver, write_config
from tests.loopback import Response, Site, article_page, rss
from tests.test_cli import monitor

T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)

ICBM_EN = (
    "North Korea fires ICBM into the sea off Japan",
    "North Korea fired an intercontinental ballistic missile into the sea east of the Korean "
    "peninsula on Monday, South Korea's military said. Japan's defence ministry said the missile "
    "flew for 70 minutes before landing in the Sea of Japan.",
)
ICBM_JA = (
    "北朝鮮がICBM級弾道ミサイル発射 日本海に落下",
    "防衛省によりますと、北朝鮮は午前8時ごろ、ICBM級の弾道ミサイル1発を発射しました。ミサイルは約70分間飛行し、日本海に落下したとみられます。",
)
ICBM_KO = (
    "북한, 동해상으로 대륙간탄도미사일 발사",
    "합동참모본부는 북한이 오늘 오전 평양 일대에서 동해상으로 대륙간탄도미사일 1발을 발사했다고 밝혔다.",
)
SRBM_EN = (
    "North Korea fires two short-range ballistic missiles",
    "North Korea fired two short-range ballistic missiles off its east coast on Wednesday, South "
    "Korea's Joint Chiefs of Staff said, two days after its intercontinental missile test.",
)
EU_RUSSIA = (
    "EU adopts 17th sanctions package against Russia",
    "The European Union adopted its 17th package of sanctions against Russia on Tuesday, "
    "targeting nearly 200 tankers of the shadow fleet.",
)
EU_SYRIA = (
    "EU lifts economic sanctions on Syria",
    "The European Union decided on Tuesday to lift economic sanctions on Syria to help its recovery "
    "after the civil war, the bloc's foreign policy chief said.",
)


EU_HYBRID = (
    "EU sanctions Russian officials over hybrid attacks",
    "The European Union imposed sanctions on 21 Russian individuals on Monday over sabotage and "
    "disinformation campaigns in Europe, the bloc said.",
)


JAPAN_RUSSIA = (
    "Japan freezes assets of Russian banks",
    "Japan's government said on Tuesday it would freeze the assets of three more Russian banks "
    "and ban exports of dual-use goods to Russia.",
)


# -- anchors ---------------------------------------------------------------------------------


def test_one_launch_reads_the_same_in_four_languages() -> None:
    readings = [
        anchors(*ICBM_EN, "en"),
        anchors(*ICBM_JA, "ja"),
        anchors(*ICBM_KO, "ko"),
        anchors("КНДР запустила межконтинентальную баллистическую ракету", "Пхеньян", "ru"),
    ]
    for a in readings:
        assert "KP" in a.places and a.subject == "KP", a
        assert "icbm" in a.head_weapons, a


def test_anchors_name_what_tells_occurrences_apart() -> None:
    seoul = anchors("Seoul: N. Korea fires two short-range ballistic missiles", "It fired on Dec. 17.", "en")
    assert seoul.subject == "KP"  # the dateline is where it was written, not who fired
    assert seoul.head_weapons == {"srbm", "ballistic"} and seoul.day == 17
    package = anchors(*EU_RUSSIA, "en")
    assert package.subject == "EU" and package.head_identifiers == {"17"} and package.action == "impose"
    assert anchors("Security Council adopts resolution 2397", "", "en").head_identifiers == {"2397"}
    assert anchors(*EU_SYRIA, "en").action == "lift"
    assert anchors("Хвасон-18 запущен", "", "ru").families == {"hwasong-18"}
    # What the headline reports, not the earlier launch it recalls; the whole story names both.
    recalled = anchors("N. Korea fires missiles days after failed satellite launch", "", "en")
    assert "satellite" not in recalled.head_weapons and "satellite" in recalled.weapons
    # Where a strike lands: a city, not a country, its people, a day or a month.
    assert anchors(
        "Russian missiles hit Odesa", "A strike on the city of Kharkiv on Monday.", "en"
    ).struck == {
        "odesa",
        "kharkiv",
    }
    assert not anchors("Israel strikes Iran", "Missiles hit Ukrainian energy sites on Monday.", "en").struck
    assert not anchors("North Korea fires missiles at East Sea", "", "en").struck
    # When a Japanese or Korean report says the launch was fired (UTC+9), on the date it gives.
    fired = anchors(
        "", "防衛省は、12月18日午前8時24分ごろ、北朝鮮がミサイルを発射した。", "ja", date(2023, 12, 17)
    )
    assert fired.launched == datetime(2023, 12, 17, 23, 24, tzinfo=UTC)
    seoul = anchors(
        "",
        "합참은 북한이 17일 오후 10시 38분께 단거리탄도미사일을 발사했다고 밝혔다.",
        "ko",
        date(2023, 12, 17),
    )
    assert seoul.launched == datetime(2023, 12, 17, 13, 38, tzinfo=UTC)
    assert (
        anchors("", "北朝鮮が午前8時ごろミサイルを発射した。", "ja", date(2023, 12, 18)).launched is None
    )  # no date
    # The first sentence that dates a launch is the story's; a later one of another date recalls
    # another launch. A date with no time is the launch's day only; a time of the same date in a
    # later sentence makes it exact. The last date before the sentence's last verb is the launch's.
    recalls = "政府は20日、北朝鮮が弾道ミサイル2発を発射したと発表した。北朝鮮は18日には午後5時21分頃に発射。"
    day_only = anchors("", recalls, "ja", date(2023, 2, 20))
    assert day_only.launch_day == date(2023, 2, 20) and day_only.launched is None
    text = "北朝鮮は17日夜に引き続き、18日朝も発射しました。防衛省は、18日午前8時24分頃に発射したと発表。"
    following = anchors("", text, "ja", date(2023, 12, 18))
    assert following.launch_day == date(2023, 12, 18)
    assert following.launched == datetime(2023, 12, 17, 23, 24, tzinfo=UTC)
    back_to_back = (
        ("防衛省は、18日午前8時24分ごろ、前日に続いて北朝鮮が弾道ミサイルを発射したと発表しました。", "ja"),
        ("북한은 17일 밤 탄도미사일을 발사한 데 이어 18일 오전 8시 24분께 또 탄도미사일을 발사했다.", "ko"),
        ("북한이 이동식 발사대에서 18일 오전 8시 24분께 탄도미사일을 발사했다.", "ko"),
    )
    for text, language in back_to_back:
        read = anchors("", text, language, date(2023, 12, 18))
        assert read.launched == datetime(2023, 12, 17, 23, 24, tzinfo=UTC), text
    # Near a month's end the date is the one nearest publication: "1日" on 31 December (UTC).
    new_year = anchors(
        "", "防衛省は1日午前8時24分ごろ、北朝鮮がミサイルを発射したと発表した。", "ja", date(2023, 12, 31)
    )
    assert new_year.launched == datetime(2023, 12, 31, 23, 24, tzinfo=UTC)
    # A count of days is no date: "5日ぶりに発射" (the first launch in five days), "5일 만에";
    # a word that starts like one is no count: "22일 전략순항미사일" (strategic cruise missiles).
    assert (
        anchors("", "北朝鮮は5日ぶりに弾道ミサイルを発射した。", "ja", date(2024, 11, 5)).launch_day is None
    )
    assert anchors("", "북한이 5일 만에 탄도미사일을 발사했다.", "ko", date(2024, 11, 5)).launch_day is None
    strategic = anchors("", "북한이 22일 전략순항미사일을 발사했다.", "ko", date(2024, 1, 22))
    assert strategic.launch_day == date(2024, 1, 22)
    # "전날" (the day before) between the date and the verb: the launch was the day before.
    told = anchors("", "13일 북한은 전날 발사한 미사일이 화성-18형이라고 밝혔다.", "ko", date(2023, 7, 13))
    assert told.launch_day == date(2023, 7, 12) and told.launched is None
    again = anchors("North Korea fires short-range missiles two days after testing Hwasong-18 ICBM", "", "en")
    assert again.head_weapons == {"srbm"} and not again.head_families and again.families == {"hwasong-18"}
    # A short place name needs a whole word, not a prefix of any word: "malicious" is not Mali.
    assert "ML" not in anchors("A malicious actor", "Chaos in congress", "en").places
    # A word of one language is not a place name of another: CLDR names of the story's language only.
    assert anchors("", "Il primo ministro ha parlato", "it").places == frozenset()


# -- the grouper -------------------------------------------------------------------------------


def grouped(stories: list[tuple[str, str, str, datetime, str]], tuning: Tuning | None = None) -> list[int]:
    """Event ids for (title, text, language, time, topic) stories, placed in order."""
    grouper, events, out = Grouper(tuning), 0, []
    for key, (title, text, language, when, topic) in enumerate(stories):
        drawn = sketch(key, title, text, language, when)
        placement = grouper.place(drawn, [topic])
        if placement.event is None:
            events += 1
        event = placement.event if placement.event is not None else events
        grouper.add(drawn, event, placement.topic)
        out.append(event)
    return out


def test_copies_and_other_languages_join_the_event_and_other_occurrences_do_not() -> None:
    launch, sanctions = "missile_launch", "sanctions"
    events = grouped(
        [
            (*ICBM_EN, "en", T0, launch),
            ("N. Korea fires ICBM into sea off Japan", ICBM_EN[1], "en", T0 + timedelta(minutes=20), launch),
            (*ICBM_JA, "ja", T0 + timedelta(hours=1), launch),
            (*ICBM_KO, "ko", T0 + timedelta(hours=2), launch),
            (*SRBM_EN, "en", T0 + timedelta(days=2), launch),  # two days later, another class
            (*EU_RUSSIA, "en", T0 + timedelta(days=2), sanctions),
            (*EU_SYRIA, "en", T0 + timedelta(days=2, hours=3), sanctions),  # same day, same bloc
            (*ICBM_EN, "en", T0 + timedelta(days=9), launch),  # the first event closed long ago
        ]
    )
    assert events[:4] == [1, 1, 1, 1]
    assert len(set(events[4:])) == 4 and not set(events[4:]) & {1}


def test_a_copy_is_recognised_by_its_shingles() -> None:
    grouper = Grouper()
    first = sketch(1, *ICBM_EN, "en", T0)
    grouper.add(first, 1, "missile_launch")
    copy = sketch(2, ICBM_EN[0] + " - Reuters", ICBM_EN[1], "en", T0 + timedelta(hours=1))
    placement = grouper.place(copy, ["missile_launch"])
    assert placement.event == 1 and placement.duplicate_of == 1 and placement.score > 0.6


@pytest.mark.parametrize("count", [0, 1, 7, 400])
def test_minhash_is_datasketchs_value_for_value(count: int) -> None:
    """Our MinHash is datasketch's (affine32, seed 1) without importing its package (SciPy and
    the Redis client come with it): the same minimums, so grouping decides as before."""
    from datasketch import MinHash

    rng = random.Random(count)
    shingles = [rng.randbytes(5) for _ in range(count)]
    reference = MinHash(num_perm=NUM_PERM, seed=1)
    reference.update_batch(shingles)
    assert minhash(shingles, NUM_PERM).tolist() == reference.hashvalues.tolist()


def test_lsh_bands_are_datasketchs_and_it_finds_what_shares_a_band() -> None:
    from datasketch import MinHashLSH

    for threshold in (0.3, 0.45, 0.6, 0.75, 0.9):
        reference = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        assert bands(threshold, NUM_PERM) == (reference.b, reference.r)
    _, r = bands(0.6, NUM_PERM)
    index = LSH(0.6, NUM_PERM)
    base = np.arange(NUM_PERM, dtype=np.uint32)
    one_band = base.copy()
    one_band[r:] += 1000  # equal in the first band only
    none = base + 7000  # equal to neither in any band
    index.insert(7, base)
    index.insert(3, one_band)
    assert 7 in index and 5 not in index
    with pytest.raises(ValueError, match="already indexed"):
        index.insert(7, base)
    assert index.query(base) == [7, 3]  # in the order indexed
    assert index.query(none) == []
    index.remove(7)
    assert index.query(base) == [3] and 7 not in index
    index.remove(3)
    assert index.query(base) == [] and all(not table for table in index._tables)


def test_the_threshold_decides_and_an_explanation_names_the_conflict() -> None:
    strict = Tuning(threshold=5.0)  # nothing but a copy can join
    assert grouped(
        [(*ICBM_EN, "en", T0, "missile_launch"), (*ICBM_KO, "ko", T0, "missile_launch")], strict
    ) == [1, 2]
    grouper = Grouper()
    grouper.add(sketch(1, *ICBM_EN, "en", T0), 1, "missile_launch")
    srbm = sketch(2, *SRBM_EN, "en", T0 + timedelta(hours=5))
    verdict = grouper.judge(srbm, grouper.vector(srbm.terms), grouper.events[1])
    assert verdict == "another missile class (ballistic, srbm)"


# -- figures -------------------------------------------------------------------------------------


def test_grouping_figures_count_pairs_stories_and_mixed_events() -> None:
    gold = {1: "a", 2: "a", 3: "b", 4: "b"}
    figures = score_grouping(gold, {1: 10, 2: 10, 3: 10, 4: 20})
    assert figures.pairwise_precision == pytest.approx(1 / 3)
    assert figures.pairwise_recall == pytest.approx(1 / 2)
    assert figures.bcubed_precision == pytest.approx(2 / 3)
    assert figures.bcubed_recall == pytest.approx(3 / 4)
    assert (figures.mixed_events, figures.predicted_events, figures.real_events) == (1, 2, 2)
    perfect = score_grouping(gold, {1: 1, 2: 1, 3: 2, 4: 2})
    assert perfect.pairwise_f1 == perfect.bcubed_f1 == 1.0 and perfect.mixed_events == 0


# -- the store's transaction ----------------------------------------------------------------------


def settings_for(tmp_path: Path, **alerts: Any) -> Settings:
    return Settings.model_validate({"database": str(tmp_path / "m.db"), "alerts": alerts})


def flagged(
    feed_id: int, i: int, title: str, text: str, when: datetime, topic: str = "missile_launch"
) -> NewArticle:
    article = Article(
        feed_id=feed_id,
        feed_name=f"Outlet {feed_id}",
        url=f"https://outlet{feed_id}.example/{i}",
        guid=f"g{i}",
        title=title,
        summary="",
        text=text,
        author=None,
        language=None,
        published_at=when,
        discovered_at=when,
        extraction_status=ExtractionStatus.OK,
        verdicts=(Verdict(topic=topic, score=0.9, flagged=True, evidence=(text[:40],)),),
    )
    return NewArticle(article=article, channels=("hook", "mail"))


def alert_rows(store: Store) -> list[tuple[Any, ...]]:
    return store.db.execute("SELECT article, channel, kind, event FROM alerts ORDER BY id").fetchall()


def test_one_event_alert_per_channel_and_an_update_when_something_material_is_first_reported(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "m.db", grouping=EventGrouping(settings_for(tmp_path, update_spacing="1h")))
    feeds = [
        s.id
        for s in store.sync_feeds(
            [Feed(name=f"F{i}", url=f"https://f{i}.example/", interval=60) for i in range(3)], T0
        )
    ]
    vague = "North Korea fired a ballistic missile into the sea off its east coast, Seoul said."
    store.commit_articles([flagged(feeds[0], 1, "North Korea fires ballistic missile", vague, T0)], T0)
    store.commit_articles(
        [flagged(feeds[1], 2, "N. Korea launches ballistic missile toward sea", vague, T0)], T0
    )
    assert [r[2] for r in alert_rows(store)] == ["event", "event"]  # one per channel, first story only
    later = T0 + timedelta(hours=2)
    store.commit_articles([flagged(feeds[2], 3, *ICBM_EN, later)], later)  # first to say ICBM
    rows = alert_rows(store)
    assert [(r[0], r[2]) for r in rows[2:]] == [(3, "update"), (3, "update")]
    assert len({r[3] for r in rows}) == 1  # all of one event
    event = store.db.execute("SELECT articles, outlets, title FROM events").fetchone()
    assert event == (3, 3, "North Korea fires ballistic missile")
    (news,) = store.db.execute("SELECT DISTINCT news FROM alerts WHERE kind = 'update'").fetchone()
    assert json.loads(news) == ["icbm"]
    soon = later + timedelta(minutes=30)  # first to name the missile, within update_spacing
    store.commit_articles([flagged(feeds[0], 4, "North Korea fires Hwasong-18 ICBM", ICBM_EN[1], soon)], soon)
    assert len(alert_rows(store)) == 4
    (update,) = [a for a in store.due_alerts(later, "hook") if a.kind is AlertKind.UPDATE]
    title, body = render(update, topic_labels={"missile_launch": "Missile launch"})
    assert title == "Update: Missile launch: North Korea fires ICBM into the sea off Japan"
    assert "first reported here: ICBM (4 stories from 3 outlets so far)" in body
    first = [a for a in store.due_alerts(later, "hook") if a.kind is AlertKind.EVENT]
    assert len(first) == 1 and "**Event:** " in render(first[0])[1]
    assert render_batch([*first, update])[0].title == "1 event new"
    assert render_digest([*first, update])[0].title == "Digest: 1 event"
    store.close()


def test_per_story_alerts_every_flagged_story_and_still_records_its_event(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db", grouping=EventGrouping(settings_for(tmp_path, per="story")))
    (feed,) = store.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], T0)
    for i in range(3):
        store.commit_articles([flagged(feed.id, i, f"{ICBM_EN[0]} ({i})", ICBM_EN[1], T0)], T0)
    rows = alert_rows(store)
    assert len(rows) == 6 and {r[2] for r in rows} == {"story"} and len({r[3] for r in rows}) == 1
    store.close()


def test_a_transaction_that_fails_leaves_no_trace_in_the_events_or_in_memory(tmp_path: Path) -> None:
    """The grouping decision, the event row and the outbox row are one transaction: when it
    fails (here the second story names a feed that does not exist), nothing of it stays, and
    the next story starts the event afresh with its one alert."""
    store = Store(tmp_path / "m.db", grouping=EventGrouping(settings_for(tmp_path)))
    (feed,) = store.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], T0)
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_articles([flagged(feed.id, 1, *ICBM_EN, T0), flagged(999, 2, *ICBM_EN, T0)], T0)
    assert store.count("events") == store.count("alerts") == store.count("articles") == 0
    store.commit_articles([flagged(feed.id, 3, *ICBM_JA, T0)], T0)
    assert [r[2] for r in alert_rows(store)] == ["event", "event"]
    assert store.db.execute("SELECT articles FROM events").fetchall() == [(1,)]
    store.close()


def test_a_second_process_sees_the_events_the_first_created(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = Store(tmp_path / "m.db", grouping=EventGrouping(settings))
    second = Store(tmp_path / "m.db", grouping=EventGrouping(settings))
    (feed,) = first.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], T0)
    second.commit_articles([flagged(feed.id, 0, *SRBM_EN, T0)], T0)  # its state: one event
    first.commit_articles([flagged(feed.id, 1, *ICBM_EN, T0)], T0)
    second.commit_articles([flagged(feed.id, 2, *ICBM_KO, T0 + timedelta(hours=1))], T0)
    events = dict(first.db.execute("SELECT id, articles FROM events").fetchall())
    assert sorted(events.values()) == [1, 2]  # the Korean story joined the English one's event
    assert [r[2] for r in alert_rows(first)].count("event") == 4  # two events, two channels
    first.close()
    second.close()


def test_regroup_changes_events_and_alerts_nothing_again(tmp_path: Path) -> None:
    store = Store(tmp_path / "m.db", grouping=EventGrouping(settings_for(tmp_path)))
    (feed,) = store.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], T0)
    for i, (title, text) in enumerate((ICBM_EN, ICBM_JA, ICBM_KO)):
        store.commit_articles([flagged(feed.id, i, title, text, T0 + timedelta(minutes=i))], T0)
    before = alert_rows(store)
    assert store.count("events") == 1 and len(before) == 2
    strict = Settings.model_validate({"database": store.path, "events": {"threshold": 1.0}})
    store.grouping = EventGrouping(strict)
    report = store.regroup(None, T0 + timedelta(hours=1))
    assert (report.stories, report.events_before, report.events_after) == (3, 1, 3)
    after = alert_rows(store)
    assert [r[:3] for r in after] == [r[:3] for r in before]  # not one alert more
    events = dict(store.db.execute("SELECT id, event FROM articles").fetchall())
    assert {r[3] for r in after} == {events[r[0]] for r in after}  # alerts follow their story
    store.close()


# -- the command line and the daemon -----------------------------------------------------------


def test_group_writes_one_line_per_story_as_the_daemon_would(tmp_path: Path, cli_env: dict[str, str]) -> None:
    lines = [
        {
            "id": "a",
            "title": ICBM_EN[0],
            "text": ICBM_EN[1],
            "published": "2026-11-30T01:00:00Z",
            "lang": "en",
        },
        {
            "id": "b",
            "title": ICBM_JA[0],
            "text": ICBM_JA[1],
            "published": "2026-11-30T02:00:00Z",
            "lang": "ja",
        },
        {"id": "c", "title": "Council approves the budget", "text": "The council met on Tuesday."},
        {
            "id": "d",
            "title": SRBM_EN[0],
            "text": SRBM_EN[1],
            "published": "2026-12-02",
            "url": "https://x.example/d",
        },
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n{oops\n")
    result = monitor("group", "--jsonl", str(path), env=cli_env)
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    error, *rows = out
    assert "line 5" in error["error"]
    by_id = {r["id"]: r for r in rows}
    assert by_id["a"]["flagged"] == ["missile_launch"] and by_id["a"]["new_event"] is True
    assert by_id["a"]["alert"] == "event"
    assert by_id["a"]["facts"]["actor"] == "North Korea" and by_id["a"]["facts"]["weapon_class"] == "ICBM"
    assert by_id["b"]["event"] == by_id["a"]["event"] and by_id["b"]["new_event"] is False
    assert by_id["b"]["alert"] is None
    assert by_id["c"] == {
        "id": "c",
        "flagged": [],
        "event": None,
        "new_event": False,
        "alert": None,
        "facts": {},
    }
    assert by_id["d"]["new_event"] is True and by_id["d"]["event"] != by_id["a"]["event"]


Report = tuple[str, str, str, str]  # title, text, published, language


def group_lines(tmp_path: Path, cli_env: dict[str, str], stories: list[Report]) -> list[Any]:
    """``monitor group`` on (title, text, published, language) stories: its lines."""
    path = tmp_path / "in.jsonl"
    lines = (
        {"id": str(i), "title": title, "text": text, "published": published, "lang": language}
        for i, (title, text, published, language) in enumerate(stories)
    )
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    result = monitor("group", "--jsonl", str(path), env=cli_env)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def group_one_day(tmp_path: Path, cli_env: dict[str, str], stories: list[tuple[str, str, str]]) -> list[Any]:
    """``monitor group`` on English (title, text, hour) stories of 5 March 2024: its lines."""
    dated = [(title, text, f"2024-03-05T{hour}:00:00Z", "en") for title, text, hour in stories]
    return group_lines(tmp_path, cli_env, dated)


def test_launches_in_four_countries_the_same_day_are_four_events(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Reports of different launches share their words ("fires ballistic missile"); before the
    places veto, these four merged into the first one's event and alerted once."""
    launches = [
        ("North Korea fires ballistic missile into the sea", "North Korea fired a short-range "
         "ballistic missile off its east coast on Tuesday, South Korea's Joint Chiefs of Staff said."),
        ("Russia launches missile strike on Kyiv", "Russia fired cruise and ballistic missiles at "
         "Kyiv overnight on Tuesday, Ukraine's air force said, killing three people."),
        ("Iran fires missiles at militant bases in Syria", "Iran's Revolutionary Guards fired "
         "ballistic missiles at what they said were militant bases in Syria on Tuesday."),
        ("Houthis fire missile at ship in Red Sea", "Yemen's Houthi rebels fired an anti-ship "
         "ballistic missile at a cargo ship in the Red Sea on Tuesday, the US military said."),
    ]  # fmt: skip
    rows = group_one_day(tmp_path, cli_env, [(t, x, f"0{i}") for i, (t, x) in enumerate(launches)])
    assert [r["flagged"] for r in rows] == [["missile_launch"]] * 4
    assert len({r["event"] for r in rows}) == 4 and all(r["alert"] == "event" for r in rows)


def test_a_strike_and_the_retaliation_are_two_events(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The same two countries, the same words, the roles reversed: who fired settles it."""
    strikes = [
        ("Russia launches missile strike on Kyiv", "Russia fired cruise and ballistic missiles at "
         "Kyiv overnight on Tuesday, Ukraine's air force said, killing three people.", "03"),
        ("Russian missiles hit Kyiv, killing three", "Russian forces struck Kyiv with missiles on "
         "Tuesday, Ukrainian officials said.", "05"),
        ("Ukraine fires missiles at Russia's Belgorod region", "Ukraine fired missiles at targets in "
         "Russia's Belgorod region on Tuesday, Russia's defence ministry said.", "09"),
    ]  # fmt: skip
    rows = group_one_day(tmp_path, cli_env, strikes)
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None  # the same strike
    assert rows[2]["event"] != rows[0]["event"] and rows[2]["alert"] == "event"  # the other side's


def test_a_wars_strikes_on_other_cities_on_following_days_are_separate_events(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Nightly strikes share attacker, country and words, and each night's reports keep the
    last event open: without reading where they land, a week of strikes alerted once."""
    nights = [
        ("Russian missile strike on Kyiv kills five", "Russia fired ballistic and cruise missiles "
         "at Kyiv overnight into Monday, killing five people, Ukraine's air force said."),
        ("Kyiv hit by Russian missiles, five dead", "Five people died when Russian missiles struck "
         "residential buildings in the capital on Monday, the city's mayor said on Telegram."),
        ("Russia pounds Odesa with missiles, port damaged", "Russian forces launched a barrage of "
         "missiles at the Black Sea port overnight, damaging grain terminals, regional officials said."),
        ("Missiles hit Kharkiv as Russia keeps up attacks", "At least three people were wounded when "
         "Russian ballistic missiles hit Ukraine's second-largest city on Wednesday morning, its "
         "governor said."),
    ]  # fmt: skip
    path = tmp_path / "in.jsonl"
    days = ["2025-03-03T05", "2025-03-03T08", "2025-03-04T05", "2025-03-05T06"]
    path.write_text(
        "".join(
            json.dumps({"id": str(i), "title": t, "text": x, "published": f"{d}:00:00Z", "lang": "en"}) + "\n"
            for i, ((t, x), d) in enumerate(zip(nights, days, strict=True))
        )
    )
    result = monitor("group", "--jsonl", str(path), env=cli_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["flagged"] for r in rows] == [["missile_launch"]] * 4
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None  # the same night
    assert len({rows[0]["event"], rows[2]["event"], rows[3]["event"]}) == 3
    assert rows[2]["alert"] == rows[3]["alert"] == "event"


def test_a_launch_fired_after_an_event_was_first_reported_is_the_next_launch(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Two launches ten hours apart, the second first reported in Japanese with no missile
    class in its opening sentence: the time it gives is after the first launch was reported,
    so it cannot be that launch (the December 2023 pair, as a daemon with real timestamps sees
    it). A report of the first launch with its time joins it, and an English report of the
    second, "a ballistic missile" on Monday, joins the second."""
    reports = [
        ("North Korea fires ballistic missile into sea, Seoul says", "North Korea fired a ballistic "
         "missile off its east coast late on Sunday, South Korea's Joint Chiefs of Staff said.",
         "2023-12-17T13:50:00Z", "en"),
        ("北朝鮮が弾道ミサイル発射", "防衛省は、17日午後10時38分ごろ、北朝鮮が弾道ミサイル1発を"
         "発射したと発表しました。ミサイルは日本海に落下したとみられます。", "2023-12-17T14:10:00Z", "ja"),
        ("", "防衛省は、12月18日午前8時24分ごろ、北朝鮮が少なくとも1発の弾道ミサイルを発射したと発表"
         "しました。ミサイルは北海道の奥尻島の西に落下したとみられます。", "2023-12-17T23:35:00Z", "ja"),
        ("North Korea fires ballistic missile, South Korea says", "North Korea has fired a ballistic "
         "missile off its east coast, South Korea's military said on Monday. The launch came just hours "
         "after North Korea fired a short-range ballistic missile on Sunday night.",
         "2023-12-17T23:50:00Z", "en"),
    ]  # fmt: skip
    rows = group_lines(tmp_path, cli_env, reports)
    assert [r["flagged"] for r in rows] == [["missile_launch"]] * 4
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None
    assert rows[2]["event"] != rows[0]["event"] and rows[2]["alert"] == "event"
    # The English report of the second launch, naming no class, joins it and not the first.
    assert rows[3]["event"] == rows[2]["event"] and rows[3]["alert"] is None


def test_a_launch_on_a_later_day_than_the_events_stories_name_is_the_next_launch(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The same two launches as feeds that give only the day see them: every story is stamped
    the 17th, so "fired after it was first reported" cannot tell them apart. The Japanese
    report dates its launch the 18th, after the only day the first event's stories name (a
    Sunday, the 17th): the next launch. A Japanese report of the first launch joins it."""
    reports = [
        ("North Korea fires ballistic missile into sea, Seoul says", "North Korea fired a ballistic "
         "missile off its east coast on Sunday, South Korea's Joint Chiefs of Staff said.",
         "2023-12-17", "en"),
        ("北朝鮮が弾道ミサイル発射", "防衛省は、17日午後10時38分ごろ、北朝鮮が弾道ミサイル1発を"
         "発射したと発表しました。ミサイルは日本海に落下したとみられます。", "2023-12-17", "ja"),
        ("", "防衛省は、12月18日午前8時24分ごろ、北朝鮮が少なくとも1発の弾道ミサイルを発射したと発表"
         "しました。ミサイルは北海道の奥尻島の西に落下したとみられます。", "2023-12-17", "ja"),
    ]  # fmt: skip
    rows = group_lines(tmp_path, cli_env, reports)
    assert [r["flagged"] for r in rows] == [["missile_launch"]] * 3
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None
    assert rows[2]["event"] != rows[0]["event"] and rows[2]["alert"] == "event"


def test_next_day_reports_of_a_launch_join_it_when_feeds_give_the_time(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """What the launch-day rule must not split, with the exact times a feed gives: reports dated
    the next day in Japan and Korea (a press conference on the 18th about the 17th's launch), and
    a first report from New York that names the previous day ("Sunday evening") for a launch at
    08:24 on Monday in Seoul. Each pair is one launch and one alert."""
    follow_ups = [
        ("North Korea fires ballistic missile into sea, Seoul says", "North Korea fired a ballistic "
         "missile off its east coast late on Sunday, South Korea's Joint Chiefs of Staff said.",
         "2023-12-17T13:50:00Z", "en"),
        ("北朝鮮が弾道ミサイル発射", "防衛省は、17日午後10時38分ごろ、北朝鮮が弾道ミサイル1発を発射したと"
         "発表しました。", "2023-12-17T14:10:00Z", "ja"),
        ("官房長官、北朝鮮の弾道ミサイル発射に抗議", "松野官房長官は18日午前の記者会見で、北朝鮮が弾道"
         "ミサイルを発射したことについて、厳重に抗議したと述べた。", "2023-12-18T01:00:00Z", "ja"),
        ("국방부, 북한 탄도미사일 발사 규탄", "국방부는 18일 북한이 발사한 탄도미사일이 동해상에 낙하했다고 "
         "밝혔다.", "2023-12-18T01:30:00Z", "ko"),
    ]  # fmt: skip
    rows = group_lines(tmp_path, cli_env, follow_ups)
    assert all(r["flagged"] == ["missile_launch"] for r in rows)
    assert {r["event"] for r in rows} == {rows[0]["event"]}
    assert [r["alert"] for r in rows] == ["event", None, None, None]
    new_york = [
        ("North Korea fires ballistic missile", "North Korea fired a ballistic missile on Sunday "
         "evening, U.S. officials said.", "2023-12-17T23:40:00Z", "en"),
        ("北朝鮮が弾道ミサイル発射", "防衛省は、12月18日午前8時24分ごろ、北朝鮮が弾道ミサイル1発を発射したと"
         "発表しました。", "2023-12-17T23:45:00Z", "ja"),
    ]  # fmt: skip
    rows = group_lines(tmp_path, cli_env, new_york)
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None


def test_sanctions_by_two_authorities_the_same_week_are_two_events(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Who imposes is what a sanctions action is: Japan's measures against Russia are not the
    EU's package against Russia, however alike the words and the target. A story that names
    the EU still joins the EU's event whoever its first sentence puts first."""
    actions = [
        ("Japan freezes assets of Russian entities over sanctions evasion", "Japan's government "
         "decided on Tuesday to freeze the assets of 11 entities in China and other countries that "
         "helped Russia evade sanctions, the Foreign Ministry said.", "01"),
        ("EU approves 14th package of sanctions against Russia", "European Union ambassadors "
         "approved the 14th package of sanctions against Russia on Tuesday, targeting liquefied "
         "natural gas and the shadow fleet.", "06"),
        ("EU adopts 14th sanctions package on Russia", "The Council of the European Union adopted "
         "a 14th package of sanctions against Russia on Tuesday, including a ban on transshipping "
         "Russian LNG.", "08"),
        ("Japan imposes new sanctions on Russia", "The Japanese government imposed further "
         "sanctions on Russia on Tuesday, freezing the assets of 11 entities, Chief Cabinet "
         "Secretary Yoshimasa Hayashi said.", "10"),
    ]  # fmt: skip
    rows = group_one_day(tmp_path, cli_env, actions)
    assert [r["flagged"] for r in rows] == [["sanctions"]] * 4
    assert rows[1]["event"] != rows[0]["event"] and rows[1]["alert"] == "event"  # the EU's own alert
    assert rows[2]["event"] == rows[1]["event"] and rows[2]["alert"] is None
    assert rows[3]["event"] == rows[0]["event"] and rows[3]["alert"] is None
    assert rows[0]["facts"]["authority"] == "Japan"
    assert rows[1]["facts"]["authority"] == "European Union"


def test_one_authoritys_actions_on_different_targets_the_same_day_are_separate_events(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The Treasury announces several actions on a busy day. Every report names the United
    States, so the places alone let them all join the first; the targets tell them apart."""
    actions = [
        ("US sanctions Iranian oil shipping network", "The US Treasury on Tuesday imposed sanctions "
         "on a network of companies and tankers that ship Iranian oil to China, OFAC said.", "10"),
        ("Treasury targets Iran oil network with new sanctions", "The United States sanctioned more "
         "than 30 entities and vessels on Tuesday for shipping Iranian oil, the Treasury said.", "11"),
        ("US imposes sanctions on Russian banks", "The US Treasury on Tuesday imposed sanctions on "
         "three Russian banks accused of helping Moscow evade export controls.", "12"),
        ("US sanctions North Korean IT workers network", "The US Treasury sanctioned on Tuesday a "
         "network of North Korean IT workers that earned money for Pyongyang's weapons programmes.",
         "14"),
    ]  # fmt: skip
    rows = group_one_day(tmp_path, cli_env, actions)
    assert [r["flagged"] for r in rows] == [["sanctions"]] * 4
    assert rows[1]["event"] == rows[0]["event"] and rows[1]["alert"] is None  # the same action
    assert len({rows[0]["event"], rows[2]["event"], rows[3]["event"]}) == 3
    assert rows[2]["alert"] == rows[3]["alert"] == "event"
    assert [r["facts"]["target_country"] for r in (rows[0], rows[2], rows[3])] == [
        "Iran",
        "Russia",
        "North Korea",
    ]


@pytest.mark.slow
def test_eval_events_cross_validated_meets_its_floor_on_the_coverage_set(
    corpus: Path, cli_env: dict[str, str]
) -> None:
    """The cross-validated figures the README quotes, as a floor: each run of events is grouped
    with weights learnt from the others only, so a change that groups worse on unseen events
    fails here."""
    result = monitor(
        "eval-events", str(corpus / "events-dev.jsonl"), "--cv", "5", "--json", env=cli_env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["stories"] == 296 and figures["real_events"] == 53
    assert figures["pairwise"]["f1"] >= 0.955 and figures["bcubed"]["f1"] >= 0.965
    # 1 mixed of 59 since a Japanese or Korean report of a launch on a later day than every day
    # an event's stories name stopped joining it (2 of 59 before; 5 of 57 before the sanctions
    # authority veto): the issue's ceiling is 3 %, and 1.15 alerts per event.
    assert figures["alerts_per_event"] <= 1.12 and figures["mixed_share"] <= 0.03


def labelled_file(path: Path) -> Path:
    """Two launches and four sanctions actions, each reported three times (in arrival order)."""
    stories = []
    for n, (event, topic, reports) in enumerate(
        (
            ("icbm", "missile_launch", [ICBM_EN, ICBM_JA, ICBM_KO]),
            ("eu-russia", "sanctions", [EU_RUSSIA, EU_RUSSIA, EU_RUSSIA]),
            ("eu-syria", "sanctions", [EU_SYRIA, EU_SYRIA, EU_SYRIA]),
            ("eu-hybrid", "sanctions", [EU_HYBRID, EU_HYBRID, EU_HYBRID]),  # the same actor and target
            ("japan", "sanctions", [JAPAN_RUSSIA, JAPAN_RUSSIA, JAPAN_RUSSIA]),
            ("srbm", "missile_launch", [SRBM_EN, SRBM_EN, SRBM_EN]),
        )
    ):
        for i, (title, text) in enumerate(reports):
            when = (T0 + timedelta(days=2 * (n // 4), hours=n, minutes=i)).isoformat()
            stories.append(
                {
                    "id": f"{event}-{i}",
                    "event": event,
                    "topic": topic,
                    "title": f"{title} ({i})",
                    "text": text,
                }
                | {"published": when, "outlet": f"Outlet {i}"}
            )
    path.write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in stories) + "\n")
    return path


def test_train_events_writes_weights_the_daemon_reads_and_refuses_a_bad_file(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    cfg = write_config(tmp_path)
    trained = monitor(
        "train-events", str(labelled_file(tmp_path / "l.jsonl")), "--config", str(cfg), env=cli_env
    )
    assert trained.returncode == 0, trained.stderr
    path = tmp_path / "models" / "events.json"
    weights = Weights.from_json(path.read_text())
    assert set(weights.coef) == set(FEATURES)
    grouping = EventGrouping(load_settings(cfg))
    assert grouping.tuning.weights == weights  # the models folder's weights, not the shipped ones
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"id": 1, "event": "x", "title": ICBM_EN[0], "text": ICBM_EN[1]}) + "\n")
    refused = monitor("train-events", str(one), "--config", str(cfg), env=cli_env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "stories that join an event and stories that do not" in refused.stderr
    path.write_text('{"bias": 1, "coef": {"colour": 2}}')
    with pytest.raises(ConfigError, match=r"events.json: not event-grouping weights \(unknown features"):
        EventGrouping(load_settings(cfg))
    checked = monitor("check", "--config", str(cfg), env=cli_env)
    assert checked.returncode != 0 and "events.json" in checked.stdout + checked.stderr


def test_learning_is_deterministic_and_weighs_what_tells_events_apart(tmp_path: Path) -> None:
    stories = [
        Labelled(sketch=sketch(i, title, text, language, T0 + timedelta(hours=i)), topic=topic, event=event)
        for i, (title, text, language, topic, event) in enumerate(
            [
                (*ICBM_EN, "en", "missile_launch", "a"),
                (*ICBM_KO, "ko", "missile_launch", "a"),
                (*SRBM_EN, "en", "missile_launch", "b"),
                ("North Korea fires two short-range missiles", SRBM_EN[1], "en", "missile_launch", "b"),
                (*ICBM_JA, "ja", "missile_launch", "a"),
                ("Pyongyang fires ICBM", ICBM_EN[1], "en", "missile_launch", "a"),
                (*EU_RUSSIA, "en", "sanctions", "c"),
                (*JAPAN_RUSSIA, "en", "sanctions", "d"),  # the same day, another actor
                ("EU adopts new sanctions on Russia", EU_RUSSIA[1], "en", "sanctions", "c"),
            ]
        )
    ]
    features, labels = training_pairs(stories)
    assert 0 in labels and 1 in labels and all(set(f) == set(FEATURES) for f in features)
    assert fit(stories) == fit(stories)


def outlet_feed(site: Site, outlet: int, title: str, text: str, published: datetime) -> None:
    path = f"/o{outlet}/1.html"
    site.routes[path] = Response(article_page(title, [text]), headers={"Content-Type": "text/html"})
    item = {"title": title, "link": site.url(path), "guid": f"urn:o{outlet}:1", "published": published}
    site.routes[f"/o{outlet}/feed.xml"] = Response(rss([item], title=f"Outlet {outlet}"))


LAUNCH = [
    ICBM_EN,
    ("North Korea test-fires intercontinental ballistic missile, Seoul says", ICBM_EN[1]),
    (
        "N. Korea launches ICBM as Japan protests",
        "Japan lodged a protest after North Korea fired an intercontinental ballistic missile into "
        "the Sea of Japan on Monday, officials in Tokyo said.",
    ),
    ICBM_JA,
    ICBM_KO,
]


@pytest.mark.slow
def test_five_outlets_one_launch_one_alert_and_a_kill_loses_and_doubles_nothing(
    tmp_path: Path, site: Site, receiver: Receiver, cli_env: dict[str, str]
) -> None:
    """Five feeds carry one launch (in three languages), a sixth a different launch two days
    later. The chat service is down when they arrive and the daemon is killed with SIGKILL
    after its failed attempts; after a restart each launch arrives exactly once."""
    now = datetime.now(UTC)
    for i, (title, text) in enumerate(LAUNCH):
        outlet_feed(site, i, title, text, now - timedelta(days=2, minutes=10 - i))
    outlet_feed(site, 5, *SRBM_EN, now)
    cfg = write_config(
        tmp_path,
        feeds=[
            {"name": f"Outlet {i}", "url": site.url(f"/o{i}/feed.xml"), "interval": "1h"} for i in range(6)
        ],
        notify=[{"name": "hook", "url": receiver.url}],
        alerts={"max_age": "3d"},
    )
    receiver.status = 500
    db = tmp_path / "monitor.db"

    def count(sql: str) -> int:
        try:
            conn = sqlite3.connect(db)
            try:
                return int(conn.execute(sql).fetchone()[0])
            finally:
                conn.close()
        except sqlite3.OperationalError:  # not created yet
            return 0

    def attempted() -> int:
        return count("SELECT count(*) FROM alerts WHERE attempts > 0")

    with (tmp_path / "d1.log").open("w") as log:
        proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=cli_env, cwd=ROOT, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (
                attempted() < 2 or count("SELECT count(*) FROM articles") < 6
            ):
                time.sleep(0.2)
            time.sleep(1.0)  # any further alert would be queued by now
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    log_text = (tmp_path / "d1.log").read_text()
    assert attempted() == 2, log_text[-3000:]
    conn = sqlite3.connect(db)
    try:
        kinds = conn.execute("SELECT kind, count(*) FROM alerts GROUP BY kind").fetchall()
        events = conn.execute("SELECT articles, outlets FROM events ORDER BY first_seen").fetchall()
    finally:
        conn.close()
    assert kinds == [("event", 2)] and events == [(5, 5), (1, 1)]
    receiver.status = 200
    with (tmp_path / "d2.log").open("w") as log:
        proc = subprocess.Popen([*MONITOR, "run", "--config", str(cfg)], env=cli_env, cwd=ROOT, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(receiver.posts) < 2:
                time.sleep(0.2)
            time.sleep(1.5)  # a duplicate would arrive now
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    titles = sorted(post["title"] for post in receiver.posts)
    assert len(titles) == 2, titles
    # The ICBM event's alert carries whichever of its five stories arrived first.
    assert any("short-range" in t for t in titles) and any(
        "ICBM" in t or "intercontinental" in t or "ミサイル" in t or "미사일" in t for t in titles
    )
    listing = monitor("events", "--config", str(cfg), "--json", env=cli_env)
    assert listing.returncode == 0, listing.stderr
    listed = [json.loads(line) for line in listing.stdout.splitlines()]
    assert [e["articles"] for e in listed] == [1, 5] and listed[1]["outlets"] == 5
    detail = monitor("event", str(listed[1]["id"]), "--config", str(cfg), env=cli_env)
    assert detail.returncode == 0, detail.stderr
    assert "5 from 5 outlets" in detail.stdout and detail.stdout.count("alert: event -> hook (sent)") == 1
    regrouped = monitor("regroup", "--config", str(cfg), env=cli_env)
    assert regrouped.returncode == 0, regrouped.stderr
    assert "6 stories regrouped: 2 events before, 2 now; nothing alerted" in regrouped.stdout
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT kind, status, count(*) FROM alerts GROUP BY 1, 2").fetchall() == [
            ("event", "sent", 2)
        ]
    finally:
        conn.close()
    assert load_settings(cfg).alerts.per == "event"


def test_reclassify_groups_newly_flagged_stories_and_alerts_once_per_event(tmp_path: Path) -> None:
    """Stories stored before a topic flagged them: `reclassify --alert` puts them in events and,
    with alerts.per: event, queues one alert per event and channel, not one per story."""
    from monitor.service import prepare, reclassify

    now = datetime.now(UTC)
    settings = Settings.model_validate(
        {"database": str(tmp_path / "m.db"), "notify": [{"name": "hook", "url": "json://127.0.0.1:9/x"}]}
    )
    runtime = prepare(settings)
    store = Store(settings.database, grouping=EventGrouping(settings))
    (feed,) = store.sync_feeds([Feed(name="F", url="https://f.example/", interval=60)], now)
    for i, (title, text) in enumerate((ICBM_EN, ICBM_JA, ICBM_KO, EU_RUSSIA)):
        new = flagged(feed.id, i, title, text, now - timedelta(hours=4 - i))
        unflagged = (Verdict(topic="missile_launch", score=0.1, flagged=False),)
        store.commit_articles([NewArticle(article=replace(new.article, verdicts=unflagged))], now)
    assert store.count("events") == 0
    report = reclassify(runtime, store, since=None, alert=True, now=now)
    assert len(report.newly_flagged) == 4
    events = store.db.execute("SELECT topic, articles FROM events ORDER BY id").fetchall()
    assert events == [("missile_launch", 3), ("sanctions", 1)]
    assert [r[2] for r in alert_rows(store)] == ["event", "event"] and report.alerts_queued == 2
    store.close()
