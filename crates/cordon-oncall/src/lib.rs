//! On-call schedules: who is on call now, or at any instant.
//!
//! A [`Schedule`] has a time zone, rotation [`Layer`]s and [`Override`]s. Each layer rotates
//! through its participants in shifts of a fixed length that start at a hand-off time of day.
//! Shifts measured in days or weeks are **civil** lengths in the schedule's time zone: a daily
//! hand-off at 09:00 stays at 09:00 local time across a daylight-saving change, so that day's
//! shift lasts 23 or 25 hours. Shifts measured in hours are absolute durations.
//!
//! Who is on call at an instant: the most recent override covering it, else the highest layer
//! (the last in the list) that has a shift covering it, else nobody. The time zone database is
//! bundled, so results do not depend on the host.
//!
//! Like the domain crate this one does no IO and reads no clock: instants are parameters.

pub mod escalation;

use cordon_domain::{Person, Timestamp};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Span, ToSpan};
use serde::{Deserialize, Serialize};

/// How long one shift lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "unit", content = "count")]
pub enum ShiftLength {
    Hours(u32),
    Days(u32),
    Weeks(u32),
}

/// One rotation: participants take turns, one shift each, starting with the first at `start`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    pub name: String,
    pub participants: Vec<Person>,
    /// The civil date of the first shift, in the schedule's time zone.
    pub start_date: Date,
    /// The hand-off time of day, in the schedule's time zone.
    pub handoff: Time,
    pub shift: ShiftLength,
}

/// Someone covering for the rotation from `start` (inclusive) to `end` (exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub person: Person,
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub name: String,
    /// An IANA time zone name such as `Europe/Berlin`.
    pub time_zone: String,
    /// Lowest priority first; a later layer wins where it has a shift.
    pub layers: Vec<Layer>,
    /// Later overrides win over earlier ones.
    pub overrides: Vec<Override>,
}

/// A shift: who, from when, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub person: Person,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The layer it comes from, or `None` for an override.
    pub layer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("schedule {schedule:?}: unknown time zone {zone:?}")]
    UnknownTimeZone { schedule: String, zone: String },
    #[error("schedule {schedule:?}, layer {layer:?}: no participants")]
    NoParticipants { schedule: String, layer: String },
    #[error("schedule {schedule:?}, layer {layer:?}: a shift must last at least one hour, day or week")]
    EmptyShift { schedule: String, layer: String },
    #[error("schedule {schedule:?}: an override for {person} ends before it starts")]
    BackwardsOverride { schedule: String, person: Person },
}

impl Schedule {
    /// Checks the schedule once, so that `on_call` can never fail later.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.zone()?;
        for layer in &self.layers {
            if layer.participants.is_empty() {
                return Err(ScheduleError::NoParticipants {
                    schedule: self.name.clone(),
                    layer: layer.name.clone(),
                });
            }
            let zero = matches!(
                layer.shift,
                ShiftLength::Hours(0) | ShiftLength::Days(0) | ShiftLength::Weeks(0)
            );
            if zero {
                return Err(ScheduleError::EmptyShift {
                    schedule: self.name.clone(),
                    layer: layer.name.clone(),
                });
            }
        }
        for o in &self.overrides {
            if o.end <= o.start {
                return Err(ScheduleError::BackwardsOverride {
                    schedule: self.name.clone(),
                    person: o.person.clone(),
                });
            }
        }
        Ok(())
    }

    fn zone(&self) -> Result<TimeZone, ScheduleError> {
        TimeZone::get(&self.time_zone).map_err(|_| ScheduleError::UnknownTimeZone {
            schedule: self.name.clone(),
            zone: self.time_zone.clone(),
        })
    }

    /// Who is on call at `at`, and the shift that makes it so.
    pub fn on_call(&self, at: Timestamp) -> Result<Option<Shift>, ScheduleError> {
        if let Some(o) = self.overrides.iter().rev().find(|o| o.start <= at && at < o.end) {
            return Ok(Some(Shift {
                person: o.person.clone(),
                start: o.start,
                end: o.end,
                layer: None,
            }));
        }
        let zone = self.zone()?;
        for layer in self.layers.iter().rev() {
            if let Some(shift) = layer_shift(layer, &zone, at) {
                return Ok(Some(shift));
            }
        }
        Ok(None)
    }
}

/// The shift of `layer` covering `at`, if the rotation has started by then.
fn layer_shift(layer: &Layer, zone: &TimeZone, at: Timestamp) -> Option<Shift> {
    if layer.participants.is_empty() {
        return None;
    }
    let first = boundary(layer, zone, 0)?;
    let instant = to_jiff(at)?;
    if instant < first {
        return None;
    }
    // Estimate the shift index from elapsed time, then correct by at most a step or two for
    // daylight-saving drift, so the cost does not grow with the age of the rotation.
    let nominal_seconds: i64 = match layer.shift {
        ShiftLength::Hours(n) => i64::from(n) * 3600,
        ShiftLength::Days(n) => i64::from(n) * 86_400,
        ShiftLength::Weeks(n) => i64::from(n) * 7 * 86_400,
    };
    let elapsed = instant.as_second() - first.as_second();
    let mut index = elapsed / nominal_seconds.max(1);
    while index > 0 && boundary(layer, zone, index)? > instant {
        index -= 1;
    }
    while boundary(layer, zone, index + 1)? <= instant {
        index += 1;
    }
    let start = boundary(layer, zone, index)?;
    let end = boundary(layer, zone, index + 1)?;
    let count = i64::try_from(layer.participants.len()).ok()?;
    let person = layer
        .participants
        .get(usize::try_from(index.rem_euclid(count)).ok()?)?
        .clone();
    Some(Shift {
        person,
        start: from_jiff(start),
        end: from_jiff(end),
        layer: Some(layer.name.clone()),
    })
}

/// The instant at which shift `index` of `layer` begins.
fn boundary(layer: &Layer, zone: &TimeZone, index: i64) -> Option<jiff::Timestamp> {
    let first = layer.start_date.to_datetime(layer.handoff);
    match layer.shift {
        ShiftLength::Hours(n) => {
            let start = first.to_zoned(zone.clone()).ok()?.timestamp();
            let span: Span = (index.checked_mul(i64::from(n))?).hours();
            start.checked_add(span).ok()
        }
        ShiftLength::Days(n) | ShiftLength::Weeks(n) => {
            let days = match layer.shift {
                ShiftLength::Weeks(_) => index.checked_mul(i64::from(n))?.checked_mul(7)?,
                _ => index.checked_mul(i64::from(n))?,
            };
            // Civil arithmetic: the same wall-clock hand-off time, whatever the offset.
            let civil = first.checked_add(days.days()).ok()?;
            Some(civil.to_zoned(zone.clone()).ok()?.timestamp())
        }
    }
}

fn to_jiff(at: Timestamp) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(at.unix_millis()).ok()
}

fn from_jiff(at: jiff::Timestamp) -> Timestamp {
    Timestamp::from_unix_millis(at.as_millisecond())
}
