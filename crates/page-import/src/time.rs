//! RFC 3339 / ISO 8601 timestamps to Unix milliseconds, without a date-time dependency.

/// Parses `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM]` to Unix milliseconds; no zone means UTC
/// (SQLite's `datetime` text is one such form). `None` when malformed.
///
/// ```
/// assert_eq!(page_import::parse_ms("1970-01-01 00:00:01.5"), Some(1_500));
/// assert_eq!(page_import::parse_ms("yesterday"), None);
/// ```
#[must_use]
pub fn parse_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = b.get(start..i)?;
        if digits.is_empty() {
            return None;
        }
        for (k, &dch) in digits.iter().take(3).enumerate() {
            ms += i64::from(dch - b'0') * [100, 10, 1][k];
        }
    }
    let offset_min = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == i + 6 && b[i + 3] == b':' => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_ms;

    #[test]
    fn parses_the_forms_traces_use() {
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_ms("2025-06-14T10:00:05Z"), Some(1_749_895_205_000));
        assert_eq!(
            parse_ms("2025-02-01T00:14:10.787622"),
            Some(1_738_368_850_787)
        );
        assert_eq!(parse_ms("2024-08-05 19:33:02"), Some(1_722_886_382_000));
        assert_eq!(
            parse_ms("2025-06-14T12:00:05+02:00"),
            Some(1_749_895_205_000)
        );
        assert_eq!(parse_ms("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "",
            "yesterday",
            "2025-13-01T00:00:00Z",
            "2025-06-14T10:00",
            "2025-06-14T10:00:05Q",
            "2025-06-14T10:00:05.",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }
}
