//! `--frames`: frame numbers as a farm writes them. `1001`, `1001-1100`, `1001-1100x2` (every
//! second frame), and comma-separated lists of those (`1-10,20,30-40x5`). Frame numbers may be
//! negative: `-5`, `-10--1`, `-3-3`.

/// No job renders more frames than this; a typo like `1-1000000000` is refused before anything
/// is allocated.
pub const MAX_FRAMES: usize = 1_000_000;

/// The frames a spec selects, ascending and without repeats.
pub fn parse(spec: &str) -> Result<Vec<i64>, String> {
    let bad = |why: &str| format!("bad --frames {spec:?}: {why}");
    if spec.trim().is_empty() {
        return Err(bad("empty"));
    }
    let mut frames = Vec::new();
    for item in spec.split(',') {
        let item = item.trim();
        let (range, step) = match item.split_once(['x', 'X']) {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let num = |t: &str| -> Result<i64, String> {
            let t = t.trim();
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(&format!("{t:?} is not a frame number")));
            }
            t.parse().map_err(|_| bad(&format!("{t} is too large")))
        };
        // The range's dash is the first one after the first number's own sign.
        let range = range.trim();
        let dash = range
            .char_indices()
            .skip(1)
            .find(|&(_, c)| c == '-')
            .map(|(i, _)| i);
        let (first, last) = match dash {
            Some(i) => (num(&range[..i])?, num(&range[i + 1..])?),
            None => {
                let f = num(range)?;
                (f, f)
            }
        };
        if last < first {
            return Err(bad(&format!("{last} comes before {first}")));
        }
        let step = match step {
            Some(s) => num(s)?,
            None => 1,
        };
        if step < 1 {
            return Err(bad("the step must be at least 1"));
        }
        let count = (last.abs_diff(first) / step as u64).saturating_add(1);
        if (frames.len() as u64).saturating_add(count) > MAX_FRAMES as u64 {
            return Err(bad(&format!("selects more than {MAX_FRAMES} frames")));
        }
        frames.extend((0..count as i64).map(|i| first + i * step));
    }
    frames.sort_unstable();
    frames.dedup();
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn ranges_steps_and_lists() {
        assert_eq!(parse("7").unwrap(), vec![7]);
        assert_eq!(
            parse("1001-1005").unwrap(),
            vec![1001, 1002, 1003, 1004, 1005]
        );
        assert_eq!(parse("1001-1006x2").unwrap(), vec![1001, 1003, 1005]);
        assert_eq!(
            parse("10-12, 1,11,40-50x5").unwrap(),
            vec![1, 10, 11, 12, 40, 45, 50]
        );
        assert_eq!(parse("3-3").unwrap(), vec![3]);
        assert_eq!(parse("-2").unwrap(), vec![-2]);
        assert_eq!(parse("-3--1").unwrap(), vec![-3, -2, -1]);
        assert_eq!(parse("-1-1").unwrap(), vec![-1, 0, 1]);
    }

    #[test]
    fn bad_specs_say_why() {
        for (spec, why) in [
            ("3-1", "comes before"),
            ("1-10x0", "step"),
            ("", "empty"),
            ("a-b", "not a frame number"),
            ("--5", "not a frame number"),
            ("-", "not a frame number"),
            ("-9223372036854775808-9223372036854775807", "more than"),
            ("1-", "not a frame number"),
            ("1,,2", "not a frame number"),
            ("0-99999999999", "more than"),
            ("99999999999999999999", "too large"),
        ] {
            let e = parse(spec).unwrap_err();
            assert!(e.contains(why), "{spec}: {e}");
            assert!(!e.contains('\n'));
        }
    }
}
