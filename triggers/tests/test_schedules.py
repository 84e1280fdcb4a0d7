"""Schedule maths: DST handling, cron parsing, intervals. Expected instants are written out literally."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from triggers.schedules import Cron, Interval, InvalidSchedule, OneOff, Schedule, bounded, starting

LONDON = "Europe/London"
NEW_YORK = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Cron across DST -------------------------------------------------------------------------------------------


def test_daily_london_keeps_local_time_across_spring_forward():
    cron = Cron("0 9 * * *", LONDON)
    assert cron.upcoming(utc(2026, 3, 27, 12), 3) == [utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]


def test_daily_london_keeps_local_time_across_fall_back():
    cron = Cron("0 9 * * *", LONDON)
    assert cron.upcoming(utc(2026, 10, 23, 12), 3) == [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]


def test_nonexistent_wall_time_fires_when_the_clock_jumps():
    # 01:30 does not exist in London on 2026-03-29: clocks go from 01:00 GMT straight to 02:00 BST (01:00Z).
    cron = Cron("30 1 * * *", LONDON)
    assert cron.upcoming(utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 30, 0, 30),
        utc(2026, 3, 31, 0, 30),
    ]


def test_ambiguous_wall_time_fires_once_at_first_occurrence():
    # 01:30 happens twice in London on 2026-10-25 (00:30Z in BST, 01:30Z in GMT).
    cron = Cron("30 1 * * *", LONDON)
    assert cron.upcoming(utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]
    # Asking from between the two occurrences does not resurrect the second one.
    assert cron.next_after(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 26, 1, 30)


def test_several_nonexistent_times_fire_once():
    cron = Cron("0,15,30,45 1 * * *", LONDON)
    assert cron.upcoming(utc(2026, 3, 28, 12), 2) == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 0)]


def test_every_hour_job_fires_at_both_occurrences_on_fall_back():
    cron = Cron("*/30 * * * *", LONDON)
    assert cron.upcoming(utc(2026, 10, 24, 23, 15), 6) == [
        utc(2026, 10, 24, 23, 30),  # 00:30 BST
        utc(2026, 10, 25, 0, 0),  # 01:00 BST
        utc(2026, 10, 25, 0, 30),  # 01:30 BST
        utc(2026, 10, 25, 1, 0),  # 01:00 GMT
        utc(2026, 10, 25, 1, 30),  # 01:30 GMT
        utc(2026, 10, 25, 2, 0),  # 02:00 GMT
    ]
    assert cron.next_after(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)


def test_every_hour_job_across_spring_forward_has_no_duplicates():
    cron = Cron("*/30 * * * *", LONDON)
    # 01:00 and 01:30 GMT do not exist; they and 02:00 BST all land on 01:00Z, which fires once.
    assert cron.upcoming(utc(2026, 3, 28, 23, 45), 5) == [
        utc(2026, 3, 29, 0, 0),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 0),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 29, 2, 0),
    ]


def test_new_york_spring_forward_and_fall_back():
    daily = Cron("0 9 * * *", NEW_YORK)
    assert daily.upcoming(utc(2026, 3, 7, 0), 2) == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13)]
    assert daily.upcoming(utc(2026, 10, 31, 0), 2) == [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14)]
    # 02:30 does not exist on 2026-03-08: fires at the jump, 03:00 EDT = 07:00Z.
    gap = Cron("30 2 * * *", NEW_YORK)
    assert gap.upcoming(utc(2026, 3, 7, 0), 3) == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]
    # 01:30 happens twice on 2026-11-01: only the EDT one (05:30Z) fires.
    fold = Cron("30 1 * * *", NEW_YORK)
    assert fold.upcoming(utc(2026, 10, 31, 12), 2) == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]
    hourly = Cron("@hourly", NEW_YORK)
    assert hourly.upcoming(utc(2026, 11, 1, 4, 30), 4) == [
        utc(2026, 11, 1, 5),  # 01:00 EDT
        utc(2026, 11, 1, 6),  # 01:00 EST
        utc(2026, 11, 1, 7),
        utc(2026, 11, 1, 8),
    ]


def test_after_may_be_in_any_zone_and_results_are_utc():
    after = datetime(2026, 3, 28, 12, tzinfo=ZoneInfo("Asia/Tokyo"))  # 03:00Z
    instant = Cron("0 9 * * *", LONDON).next_after(after)
    assert instant == utc(2026, 3, 28, 9)
    assert instant.tzinfo is UTC


def test_results_are_strictly_after():
    assert Cron("0 9 * * *").next_after(utc(2026, 5, 1, 9)) == utc(2026, 5, 2, 9)
    assert Cron("0 9 * * *").next_after(utc(2026, 5, 1, 8, 59, 59, 999999)) == utc(2026, 5, 1, 9)


# --- Cron calendar semantics -----------------------------------------------------------------------------------


def test_day_31_skips_short_months():
    assert Cron("0 0 31 * *").upcoming(utc(2026, 1, 31), 4) == [
        utc(2026, 3, 31),
        utc(2026, 5, 31),
        utc(2026, 7, 31),
        utc(2026, 8, 31),
    ]


def test_leap_day():
    assert Cron("0 0 29 2 *").next_after(utc(2026, 1, 1)) == utc(2028, 2, 29)


def test_rare_leap_day_weekday_combination_is_found():
    # Day-of-week starts with "*", so both day fields must match: 29 February on a Sunday.
    assert Cron("0 0 29 2 */7").next_after(utc(2026, 1, 1)) == utc(2032, 2, 29)


def test_day_of_month_or_day_of_week_when_both_restricted():
    # January 2026: Fridays 2, 9, 16, 23, 30 and the 13th (a Tuesday).
    assert Cron("0 0 13 * 5").upcoming(utc(2026, 1, 1), 6) == [
        utc(2026, 1, 2),
        utc(2026, 1, 9),
        utc(2026, 1, 13),
        utc(2026, 1, 16),
        utc(2026, 1, 23),
        utc(2026, 1, 30),
    ]


def test_day_of_month_and_day_of_week_when_one_is_a_star():
    # Odd days of the month that are also Fridays: 2026-01-09, 01-23, then 02-13.
    assert Cron("0 0 */2 * FRI").upcoming(utc(2026, 1, 1), 3) == [utc(2026, 1, 9), utc(2026, 1, 23), utc(2026, 2, 13)]


def test_month_and_weekday_names():
    cron = Cron("0 9 * JAN-MAR MON-FRI")
    assert cron.upcoming(utc(2026, 3, 27, 10), 3) == [utc(2026, 3, 30, 9), utc(2026, 3, 31, 9), utc(2027, 1, 1, 9)]
    assert Cron("0 9 * jan-mar mon-fri").next_after(utc(2026, 3, 27, 10)) == utc(2026, 3, 30, 9)


def test_seven_is_sunday():
    expected = [utc(2026, 1, 4), utc(2026, 1, 11)]  # 2026-01-01 is a Thursday
    for expression in ("0 0 * * 7", "0 0 * * 0", "0 0 * * SUN"):
        assert Cron(expression).upcoming(utc(2026, 1, 1), 2) == expected
    assert Cron("0 0 * * 5-7").upcoming(utc(2026, 1, 1), 4) == [
        utc(2026, 1, 2),
        utc(2026, 1, 3),
        utc(2026, 1, 4),
        utc(2026, 1, 9),
    ]


def test_ranges_steps_and_lists():
    cron = Cron("5-20/5,58 10/6 * * *")
    assert cron.upcoming(utc(2026, 6, 1), 6) == [
        utc(2026, 6, 1, 10, 5),
        utc(2026, 6, 1, 10, 10),
        utc(2026, 6, 1, 10, 15),
        utc(2026, 6, 1, 10, 20),
        utc(2026, 6, 1, 10, 58),
        utc(2026, 6, 1, 16, 5),
    ]
    assert Cron("0 10/6 * * *").upcoming(utc(2026, 6, 1, 17), 2) == [utc(2026, 6, 1, 22), utc(2026, 6, 2, 10)]


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@yearly", utc(2027, 1, 1)),
        ("@annually", utc(2027, 1, 1)),
        ("@monthly", utc(2026, 6, 1)),
        ("@weekly", utc(2026, 5, 17)),  # 2026-05-13 is a Wednesday
        ("@daily", utc(2026, 5, 14)),
        ("@midnight", utc(2026, 5, 14)),
        ("@hourly", utc(2026, 5, 13, 11)),
        ("@DAILY", utc(2026, 5, 14)),
    ],
)
def test_macros(macro, expected):
    assert Cron(macro).next_after(utc(2026, 5, 13, 10, 15)) == expected


def test_every_minute_is_fast_and_exact():
    cron = Cron("* * * * *", LONDON)
    assert cron.upcoming(utc(2026, 3, 29, 0, 58, 30), 5) == [
        utc(2026, 3, 29, 0, 59),
        utc(2026, 3, 29, 1, 0),  # every 01:xx GMT is missing and lands here once
        utc(2026, 3, 29, 1, 1),
        utc(2026, 3, 29, 1, 2),
        utc(2026, 3, 29, 1, 3),
    ]


def test_upcoming_returns_strictly_increasing_instants():
    for schedule in (Cron("*/15 * * * *", LONDON), Cron("0 9 * * MON"), Interval(utc(2026, 1, 1), timedelta(hours=5))):
        instants = schedule.upcoming(utc(2026, 10, 24, 23), 5)
        assert len(instants) == 5
        assert all(a < b for a, b in pairwise(instants))
    assert Cron("0 9 * * *").upcoming(utc(2026, 1, 1), 0) == []


# --- Cron validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 0 * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"),
        ("0 0 * *", "expected 5 fields"),
        ("", "expected 5 fields"),
        ("61 * * * *", "minute field value 61 is out of range 0-59"),
        ("* 24 * * *", "hour field value 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field value 0 is out of range 1-31"),
        ("* * * 13 *", "month field value 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field value 8 is out of range 0-7"),
        ("*/0 * * * *", "minute field step '0' must be a positive whole number"),
        ("*/x * * * *", "minute field step 'x' must be a positive whole number"),
        ("a b c d e", "minute field value 'a' is not a number"),
        ("* * * FOO *", "month field value 'FOO' is not a number or name"),
        ("* * * * MON-FOO", "day-of-week field value 'FOO' is not a number or name"),
        ("* * * JAN *x", "day-of-week field value '*x' is not a number or name"),
        ("30-10 * * * *", "minute field range 30-10 runs backwards"),
        ("1,,2 * * * *", "minute field has an empty item"),
        ("-5 * * * *", "minute field range '-5' is incomplete"),
        ("@reboot", "unknown macro '@reboot'"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ],
)
def test_invalid_expressions(expression, message):
    with pytest.raises(InvalidSchedule) as caught:
        Cron(expression)
    assert str(caught.value).startswith("Invalid cron expression: ")
    assert message in str(caught.value)


def test_unknown_time_zone():
    for zone in ("Mars/Base", "", "Europe", "../etc/passwd"):
        with pytest.raises(InvalidSchedule, match=r"^Unknown time zone: "):
            Cron("0 0 * * *", zone)
    with pytest.raises(InvalidSchedule) as caught:
        Cron("0 0 * * *", "Mars/Base")
    assert str(caught.value) == "Unknown time zone: Mars/Base"


def test_restricted_day_fields_or_semantics_never_rejected():
    # 30 February never exists, but both day fields are restricted, so Mondays in February match.
    assert Cron("0 0 30 2 MON").next_after(utc(2026, 1, 1)) == utc(2026, 2, 2)


def test_invalid_schedule_is_a_value_error():
    assert issubclass(InvalidSchedule, ValueError)


# --- Interval ---------------------------------------------------------------------------------------------------


def test_interval_next_after_before_at_and_after_start():
    interval = Interval(utc(2026, 1, 1, 12), timedelta(minutes=10))
    assert interval.next_after(utc(2025, 6, 1)) == utc(2026, 1, 1, 12)
    assert interval.next_after(utc(2026, 1, 1, 11, 59, 59, 999999)) == utc(2026, 1, 1, 12)
    assert interval.next_after(utc(2026, 1, 1, 12)) == utc(2026, 1, 1, 12, 10)
    assert interval.next_after(utc(2026, 1, 1, 12, 9, 59)) == utc(2026, 1, 1, 12, 10)
    assert interval.next_after(utc(2026, 1, 1, 12, 10)) == utc(2026, 1, 1, 12, 20)


def test_interval_is_exact_after_a_million_intervals():
    interval = Interval(utc(2026, 1, 1), timedelta(minutes=7, microseconds=1))
    # 10**6 * (7 min + 1 µs) = 4861 days 2 h 40 min 1 s.
    millionth = utc(2039, 4, 24, 2, 40, 1)
    assert interval.next_after(millionth - timedelta(microseconds=1)) == millionth
    assert interval.next_after(millionth) == utc(2039, 4, 24, 2, 47, 1, 1)


def test_interval_start_in_local_zone_ignores_dst():
    start = datetime(2026, 3, 28, 23, 30, tzinfo=ZoneInfo(LONDON))
    interval = Interval(start, timedelta(hours=1))
    instants = interval.upcoming(utc(2026, 3, 29, 0), 4)
    assert instants == [
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1, 30),  # 02:30 BST: the clocks jumped an hour at 01:00Z, the interval did not
        utc(2026, 3, 29, 2, 30),
        utc(2026, 3, 29, 3, 30),
    ]
    assert all(b - a == timedelta(seconds=3600) for a, b in pairwise(instants))
    assert all(t.tzinfo is UTC for t in instants)


@pytest.mark.parametrize("every", [timedelta(0), timedelta(seconds=-1)])
def test_interval_must_be_positive(every):
    with pytest.raises(InvalidSchedule, match="positive"):
        Interval(utc(2026, 1, 1), every)


def test_naive_datetimes_are_rejected():
    with pytest.raises(InvalidSchedule, match="time zone"):
        Interval(datetime(2026, 1, 1), timedelta(hours=1))
    with pytest.raises(InvalidSchedule, match="time zone"):
        OneOff(datetime(2026, 1, 1))
    with pytest.raises(InvalidSchedule, match="time zone"):
        bounded(Cron("@daily"), end_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="time zone"):
        Cron("@daily").next_after(datetime(2026, 1, 1))


# --- OneOff -------------------------------------------------------------------------------------------------------


def test_one_off():
    once = OneOff(datetime(2026, 7, 1, 9, tzinfo=ZoneInfo(LONDON)))
    assert once.next_after(utc(2026, 1, 1)) == utc(2026, 7, 1, 8)
    assert once.next_after(utc(2026, 7, 1, 8)) is None
    assert once.upcoming(utc(2026, 1, 1), 5) == [utc(2026, 7, 1, 8)]
    assert once.count_between(utc(2026, 7, 1, 8), utc(2026, 7, 1, 8)) == 1
    assert once.count_between(utc(2026, 7, 1, 8, 0, 0, 1), utc(2027, 1, 1)) == 0


# --- count_between ---------------------------------------------------------------------------------------------------


def test_interval_count_between_is_inclusive_and_capped():
    interval = Interval(utc(2026, 1, 1), timedelta(hours=1))
    assert interval.count_between(utc(2026, 1, 1), utc(2026, 1, 2)) == 25
    assert interval.count_between(utc(2025, 1, 1), utc(2026, 1, 1, 2, 30)) == 3
    assert interval.count_between(utc(2026, 1, 1, 0, 30), utc(2026, 1, 1, 0, 59)) == 0
    assert interval.count_between(utc(2026, 1, 2), utc(2026, 1, 1)) == 0
    assert interval.count_between(utc(2026, 1, 1), utc(2126, 1, 1)) == 10_000
    assert interval.count_between(utc(2026, 1, 1), utc(2126, 1, 1), cap=7) == 7


def test_cron_count_between_is_inclusive_and_capped():
    assert Cron("0 9 * * *").count_between(utc(2026, 1, 1, 9), utc(2026, 1, 31, 9)) == 31
    assert Cron("0 9 * * *").count_between(utc(2026, 1, 1, 9, 1), utc(2026, 1, 31, 8, 59)) == 29
    # London fall-back day: 01:00 and 01:30 happen twice, so there are 50 half-hours.
    assert Cron("*/30 * * * *", LONDON).count_between(utc(2026, 10, 24, 23), utc(2026, 10, 25, 23, 59)) == 50
    assert Cron("* * * * *").count_between(utc(2026, 1, 1), utc(2027, 1, 1)) == 10_000
    assert Cron("* * * * *").count_between(utc(2026, 1, 1), utc(2027, 1, 1), cap=100) == 100
    assert Cron("* * * * *").count_between(utc(2026, 1, 2), utc(2026, 1, 1)) == 0


# --- bounded ---------------------------------------------------------------------------------------------------------


def test_bounded_stops_at_end_at():
    schedule = bounded(Cron("0 9 * * *"), end_at=utc(2026, 1, 3, 9))
    assert isinstance(schedule, Schedule)
    assert schedule.upcoming(utc(2026, 1, 1), 5) == [utc(2026, 1, 1, 9), utc(2026, 1, 2, 9), utc(2026, 1, 3, 9)]
    assert schedule.next_after(utc(2026, 1, 2, 10)) == utc(2026, 1, 3, 9)
    assert schedule.next_after(utc(2026, 1, 3, 9)) is None
    assert schedule.count_between(utc(2026, 1, 1), utc(2027, 1, 1)) == 3

    interval = bounded(Interval(utc(2026, 1, 1), timedelta(hours=1)), end_at=utc(2026, 1, 1, 2, 30))
    assert interval.upcoming(utc(2025, 1, 1), 10) == [utc(2026, 1, 1, 0), utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)]
    assert interval.count_between(utc(2025, 1, 1), utc(2027, 1, 1)) == 3


def test_bounded_without_end_is_the_schedule_itself():
    cron = Cron("@daily")
    assert bounded(cron, end_at=None) is cron


def test_schedules_satisfy_the_protocol_and_compare_by_value():
    for schedule in (OneOff(utc(2026, 1, 1)), Interval(utc(2026, 1, 1), timedelta(1)), Cron("@daily")):
        assert isinstance(schedule, Schedule)
    assert Cron("0 9 * * *", LONDON) == Cron("0 9 * * *", LONDON)
    assert hash(Cron("0 9 * * *", LONDON)) == hash(Cron("0 9 * * *", LONDON))


# --- starting --------------------------------------------------------------------------------------------------------


def test_starting_fires_nothing_before_start_at_and_the_slot_at_it():
    schedule = starting(Cron("0 9 * * *"), start_at=utc(2026, 3, 5, 9))
    assert schedule.next_after(utc(2026, 1, 1)) == utc(2026, 3, 5, 9)
    assert schedule.upcoming(utc(2026, 1, 1), 2) == [utc(2026, 3, 5, 9), utc(2026, 3, 6, 9)]
    assert schedule.next_after(utc(2026, 3, 5, 9)) == utc(2026, 3, 6, 9)  # strictly after, once started
    assert schedule.count_between(utc(2026, 3, 1), utc(2026, 3, 7, 9)) == 3


def test_starting_and_bounded_compose_and_none_is_no_bound():
    window = bounded(starting(Cron("0 * * * *"), start_at=utc(2026, 1, 1, 10, 30)), end_at=utc(2026, 1, 1, 13))
    assert window.upcoming(utc(2026, 1, 1), 10) == [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12), utc(2026, 1, 1, 13)]
    plain = Cron("0 9 * * *")
    assert starting(plain, start_at=None) is plain
    with pytest.raises(InvalidSchedule):
        starting(plain, start_at=datetime(2026, 1, 1))  # naive
