//! Durations as scenario files write them (`"2s"`, `"500ms"`, `"1m30s"`) and as reports print them.
//!
//! A small parser of our own rather than a dependency: scenarios need four units and one canonical
//! spelling, because `Step::label` (a snapshot key) prints `wait` durations back.

use std::time::Duration;

/// Units a scenario may use, longest spelling first so `ms` is not read as `m` + `s`.
const UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)];

/// Parses `"10s"`, `"500ms"`, `"1m30s"`, `"1h 5m"`: whole numbers, each followed by a unit
/// (`ms`, `s`, `m`, `h`). The error is a sentence that says what was wrong.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{number}` is too large"))?;
        let tail = tail.trim_start();
        let unit_len = tail
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .map(char::len_utf8)
            .sum::<usize>();
        let (unit, tail) = tail.split_at(unit_len);
        if unit.is_empty() {
            if tail.starts_with('.') {
                return Err("fractions are not supported (write `1500ms`, not `1.5s`)".to_owned());
            }
            return Err(format!(
                "`{number}` has no unit (write `{number}s` or `{number}ms`)"
            ));
        }
        let factor = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, factor)| *factor)
            .ok_or_else(|| format!("unknown unit `{unit}` (use ms, s, m or h)"))?;
        total_ms = number
            .checked_mul(factor)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| "duration is too large".to_owned())?;
        rest = tail.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// The canonical spelling: largest units first, no spaces, zero parts left out (`1m30s`, `500ms`,
/// `0s`). `parse_duration(&format_duration(d)) == d` for every whole number of milliseconds.
pub(crate) fn format_duration(duration: Duration) -> String {
    let mut ms = duration.as_millis();
    if ms == 0 {
        return if duration.is_zero() {
            "0s".to_owned()
        } else {
            format!("{}ns", duration.as_nanos())
        };
    }
    let mut out = String::new();
    for (name, factor) in UNITS.iter().rev() {
        let factor = u128::from(*factor);
        let count = ms / factor;
        if count > 0 {
            out.push_str(&format!("{count}{name}"));
            ms %= factor;
        }
    }
    out
}

/// `serialize_with` helper: a `Duration` as its canonical string.
pub(crate) fn serialize<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*duration))
}

/// `serialize_with` helper: an optional `Duration` as its canonical string.
pub(crate) fn serialize_option<S: serde::Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(d) => serializer.serialize_some(&format_duration(*d)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        let cases = [
            ("2s", 2_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1h 5m", 3_900_000),
            (" 10 s ", 10_000),
            ("0s", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("2 parsecs", "unknown unit `parsecs`"),
            ("10", "no unit"),
            ("1.5s", "fractions"),
            ("s", "expected a number"),
            ("99999999999999999999s", "too large"),
            ("18446744073709551615h", "too large"),
        ];
        for (text, needle) in cases {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn formats_canonically_and_round_trips() {
        for (ms, text) in [
            (0, "0s"),
            (2_000, "2s"),
            (500, "500ms"),
            (90_000, "1m30s"),
            (3_600_001, "1h1ms"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d));
        }
    }
}
