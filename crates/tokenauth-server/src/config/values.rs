//! Reading one raw value as a typed one, with the reasons a setting's value is refused; the
//! pieces the `apply` of each of [`super::SETTINGS`] is made of.

use std::time::Duration;

use super::{RawValue, format_duration, parse_duration};

/// The single value, trimmed. A list is refused.
pub(super) fn text(value: RawValue) -> Result<String, String> {
    match value {
        RawValue::Text(text) => Ok(text.trim().to_owned()),
        RawValue::List(_) => Err("expected a single value, not a list".to_owned()),
    }
}

/// A duration (`15m`, `250ms`) from `min` to `max`.
pub(super) fn duration_within(
    value: RawValue,
    min: Duration,
    max: Duration,
) -> Result<Duration, String> {
    let duration = parse_duration(&text(value)?)?;
    if duration < min {
        return Err(format!("must be at least {}", format_duration(min)));
    }
    if duration > max {
        return Err(format!("must be at most {}", format_duration(max)));
    }
    Ok(duration)
}

/// A duration of at least `min`.
pub(super) fn duration_at_least(value: RawValue, min: Duration) -> Result<Duration, String> {
    duration_within(value, min, Duration::MAX)
}

/// A duration of at most `max`.
pub(super) fn duration_at_most(value: RawValue, max: Duration) -> Result<Duration, String> {
    duration_within(value, Duration::ZERO, max)
}

/// A whole number.
pub(super) fn count(value: RawValue) -> Result<usize, String> {
    let text = text(value)?;
    text.parse::<usize>()
        .map_err(|_| format!("{text:?} is not a whole number"))
}

/// A whole number of at least 1.
pub(super) fn at_least_one(value: RawValue) -> Result<usize, String> {
    match count(value)? {
        0 => Err("must be at least 1".to_owned()),
        n => Ok(n),
    }
}

/// One of `choices` (its spelling and value); the error says it should be `expected`.
pub(super) fn choice<T: Copy>(
    value: RawValue,
    choices: &[(&str, T)],
    expected: &str,
) -> Result<T, String> {
    let given = text(value)?;
    choices
        .iter()
        .find(|(spelling, _)| *spelling == given)
        .map(|(_, value)| *value)
        .ok_or_else(|| format!("{given:?} is not {expected}"))
}

/// `on` or `off` (also `true` or `false`).
pub(super) fn switch(value: RawValue) -> Result<bool, String> {
    choice(
        value,
        &[
            ("on", true),
            ("true", true),
            ("off", false),
            ("false", false),
        ],
        "on or off",
    )
}
