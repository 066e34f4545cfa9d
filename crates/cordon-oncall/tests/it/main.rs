//! Who is on call: rotations, layers, overrides, and daylight-saving changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cordon_domain::{Person, Timestamp};
use cordon_oncall::{Layer, Override, Schedule, ScheduleError, ShiftLength};
use jiff::civil::{date, time};
use proptest::prelude::*;

fn person(name: &str) -> Person {
    Person::new(name).unwrap()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

fn layer(name: &str, people: &[&str], shift: ShiftLength) -> Layer {
    Layer {
        name: name.into(),
        participants: people.iter().map(|p| person(p)).collect(),
        start_date: date(2026, 3, 2),
        handoff: time(9, 0, 0, 0),
        shift,
    }
}

fn schedule(zone: &str, layers: Vec<Layer>) -> Schedule {
    let schedule = Schedule {
        name: "security".into(),
        time_zone: zone.into(),
        layers,
        overrides: Vec::new(),
    };
    schedule.validate().unwrap();
    schedule
}

fn who(schedule: &Schedule, instant: &str) -> Option<String> {
    schedule
        .on_call(at(instant))
        .unwrap()
        .map(|shift| shift.person.to_string())
}

#[test]
fn daily_handoff_stays_at_nine_local_across_both_dst_changes() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer("primary", &["alice", "bob"], ShiftLength::Days(1))],
    );
    // Spring forward on 2026-03-29: the shift from 09:00 CET to 09:00 CEST lasts 23 hours.
    let shift = s.on_call(at("2026-03-28T12:00:00Z")).unwrap().unwrap();
    assert_eq!(
        (shift.start, shift.end),
        (at("2026-03-28T08:00:00Z"), at("2026-03-29T07:00:00Z"))
    );
    // Fall back on 2026-10-25: that shift lasts 25 hours.
    let shift = s.on_call(at("2026-10-24T12:00:00Z")).unwrap().unwrap();
    assert_eq!(
        (shift.start, shift.end),
        (at("2026-10-24T07:00:00Z"), at("2026-10-25T08:00:00Z"))
    );
    // The hand-off itself: the old shift ends exactly when the new one begins.
    assert_ne!(who(&s, "2026-03-29T06:59:59Z"), who(&s, "2026-03-29T07:00:00Z"));
}

#[test]
fn weekly_rotation_takes_turns_in_order() {
    let s = schedule(
        "America/New_York",
        vec![layer("weekly", &["alice", "bob", "carol"], ShiftLength::Weeks(1))],
    );
    let names: Vec<Option<String>> = [
        "2026-03-03T12:00:00Z",
        "2026-03-10T12:00:00Z",
        "2026-03-17T12:00:00Z",
        "2026-03-24T12:00:00Z",
    ]
    .iter()
    .map(|t| who(&s, t))
    .collect();
    assert_eq!(
        names,
        [
            Some("alice".into()),
            Some("bob".into()),
            Some("carol".into()),
            Some("alice".into())
        ]
    );
    assert_eq!(
        who(&s, "2026-03-02T13:59:59Z"),
        None,
        "before the rotation starts nobody is on call"
    );
}

#[test]
fn hour_shifts_are_absolute_durations() {
    let s = schedule(
        "Europe/Berlin",
        vec![layer("follow-the-sun", &["eu", "us"], ShiftLength::Hours(12))],
    );
    let shift = s.on_call(at("2026-03-29T06:00:00Z")).unwrap().unwrap();
    assert_eq!(shift.end.unix_millis() - shift.start.unix_millis(), 12 * 3_600_000);
}

#[test]
fn overrides_beat_layers_and_later_layers_beat_earlier_ones() {
    let mut s = schedule(
        "UTC",
        vec![
            layer("primary", &["alice"], ShiftLength::Days(1)),
            layer("holiday", &["bob"], ShiftLength::Weeks(52)),
        ],
    );
    assert_eq!(who(&s, "2026-06-01T12:00:00Z"), Some("bob".into()));
    s.overrides.push(Override {
        person: person("carol"),
        start: at("2026-06-01T10:00:00Z"),
        end: at("2026-06-01T14:00:00Z"),
    });
    s.overrides.push(Override {
        person: person("dave"),
        start: at("2026-06-01T11:00:00Z"),
        end: at("2026-06-01T13:00:00Z"),
    });
    assert_eq!(who(&s, "2026-06-01T10:30:00Z"), Some("carol".into()));
    assert_eq!(
        who(&s, "2026-06-01T12:00:00Z"),
        Some("dave".into()),
        "the later override wins"
    );
    assert_eq!(
        who(&s, "2026-06-01T14:00:00Z"),
        Some("bob".into()),
        "the end is exclusive"
    );
}

#[test]
fn invalid_schedules_are_refused_with_the_reason() {
    let mut s = Schedule {
        name: "s".into(),
        time_zone: "Mars/Olympus".into(),
        layers: vec![],
        overrides: vec![],
    };
    assert!(matches!(s.validate(), Err(ScheduleError::UnknownTimeZone { .. })));
    s.time_zone = "UTC".into();
    s.layers.push(layer("empty", &[], ShiftLength::Days(1)));
    assert_eq!(
        s.validate().unwrap_err().to_string(),
        "schedule \"s\", layer \"empty\": no participants"
    );
    s.layers = vec![layer("zero", &["a"], ShiftLength::Hours(0))];
    assert!(matches!(s.validate(), Err(ScheduleError::EmptyShift { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Shifts tile time: every instant is in exactly one shift, each daily shift starts at the
    /// hand-off time in local time, and the next shift starts where this one ends.
    #[test]
    fn shifts_tile_time_and_start_at_the_local_handoff(
        offset_seconds in 0i64..(3 * 365 * 86_400),
        zone in prop_oneof![Just("Europe/Berlin"), Just("America/New_York"), Just("Australia/Sydney"), Just("UTC")],
        days in 1u32..8,
        people in 1usize..5,
    ) {
        let names: Vec<String> = (0..people).map(|i| format!("p{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let s = schedule(zone, vec![layer("l", &refs, ShiftLength::Days(days))]);
        let instant = Timestamp::from_unix_millis(at("2026-03-03T00:00:00Z").unix_millis() + offset_seconds * 1000);
        let shift = s.on_call(instant).unwrap().unwrap();
        prop_assert!(shift.start <= instant && instant < shift.end);
        let next = s.on_call(shift.end).unwrap().unwrap();
        prop_assert_eq!(next.start, shift.end);
        let local = jiff::Timestamp::from_millisecond(shift.start.unix_millis()).unwrap().to_zoned(jiff::tz::TimeZone::get(zone).unwrap());
        prop_assert_eq!((local.hour(), local.minute()), (9, 0));
        if people > 1 {
            prop_assert_ne!(next.person, shift.person);
        }
    }
}

mod escalation {
    use cordon_oncall::escalation::{EscalationPolicy, Level, Step, Target};

    use super::*;

    fn policy() -> EscalationPolicy {
        EscalationPolicy {
            name: "security".into(),
            levels: vec![
                Level {
                    targets: vec![Target::Schedule("security".into())],
                    timeout_minutes: 5,
                },
                Level {
                    targets: vec![Target::Person(person("ciso")), Target::Schedule("security".into())],
                    timeout_minutes: 10,
                },
            ],
            repeats: 1,
        }
    }

    #[test]
    fn levels_escalate_after_their_timeouts_and_repeat_then_stop() {
        let policy = policy();
        let started = at("2026-11-28T01:00:00Z");
        let mut steps = Vec::new();
        let mut last: Option<Step> = None;
        while let Some(step) = policy.next_step(started, last) {
            steps.push((step.round, step.level, step.due.to_rfc3339()));
            last = Some(step);
        }
        assert_eq!(
            steps,
            [
                (0, 0, "2026-11-28T01:00:00.000Z".to_owned()),
                (0, 1, "2026-11-28T01:05:00.000Z".to_owned()),
                (1, 0, "2026-11-28T01:15:00.000Z".to_owned()),
                (1, 1, "2026-11-28T01:20:00.000Z".to_owned()),
            ]
        );
    }

    #[test]
    fn schedules_resolve_to_whoever_is_on_call_without_duplicates() {
        let security = schedule("UTC", vec![layer("primary", &["alice", "bob"], ShiftLength::Days(1))]);
        let mut security = security;
        security.name = "security".into();
        let people = policy().recipients(1, at("2026-03-02T10:00:00Z"), &[security]).unwrap();
        let names: Vec<String> = people.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["ciso", "alice"]);
        let missing = policy().recipients(0, at("2026-03-02T10:00:00Z"), &[]).unwrap();
        assert!(
            missing.is_empty(),
            "an unknown schedule pages nobody rather than failing"
        );
    }
}
