//! Durations in the files: written like `5s`, `200ms`, `1m 30s`; serialized the same way.

use std::time::Duration;

use serde::Serializer;

/// Parse a positive duration such as `5s` or `200ms`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err(format!("duration `{text}` must be greater than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(format!(
            "`{text}` is not a duration such as 5s, 200ms or 1m30s ({e})"
        )),
    }
}

/// Serialize a duration as `5s`.
pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_duration(*d))
}

/// Serialize an optional duration (callers skip `None`).
pub(crate) fn serialize_option<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Result<Duration, &str>)] = &[
            ("5s", Ok(Duration::from_secs(5))),
            ("200ms", Ok(Duration::from_millis(200))),
            ("1m30s", Ok(Duration::from_secs(90))),
            ("1m 30s", Ok(Duration::from_secs(90))),
            ("0s", Err("greater than zero")),
            ("5", Err("not a duration")),
            ("5x", Err("not a duration")),
            ("", Err("not a duration")),
        ];
        for (text, want) in cases {
            match (parse(text), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, *want, "{text}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
