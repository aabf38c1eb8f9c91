//! Part numbers as they arrive in URLs: one (`/{partNumber}`) or a comma
//! separated list (`?partNumbers=1,2,3`).

/// The highest part number S3 allows.
pub const MAX_PART_NUMBER: u16 = 10_000;

/// Why a part number (or list of them) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPartNumber(pub String);

impl std::fmt::Display for BadPartNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses one part number: decimal digits only, 1 to 10000.
///
/// # Errors
/// Anything else, with a message naming the value.
pub fn parse_part_number(raw: &str) -> Result<u16, BadPartNumber> {
    let bad = || {
        BadPartNumber(format!(
            "part number {raw:?} is not a number between 1 and {MAX_PART_NUMBER}"
        ))
    };
    if raw.is_empty() || raw.len() > 5 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match raw.parse::<u16>() {
        Ok(n) if (1..=MAX_PART_NUMBER).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// The most part numbers one list may name (repeats counted once): a
/// batch signs one URL for each, and a client signs a few parts ahead, not
/// a whole upload's 10,000 in one request.
pub const MAX_PARTS_PER_LIST: usize = 1000;

/// Parses a comma separated list of part numbers (`1,2,3`), keeping their
/// order and dropping repeats.
///
/// # Errors
/// An empty list, any item that [`parse_part_number`] refuses, or more
/// than [`MAX_PARTS_PER_LIST`] numbers.
pub fn parse_part_numbers(raw: &str) -> Result<Vec<u16>, BadPartNumber> {
    if raw.trim().is_empty() {
        return Err(BadPartNumber(
            "partNumbers must be a comma separated list, like ?partNumbers=1,2,3".to_owned(),
        ));
    }
    let mut seen = vec![false; usize::from(MAX_PART_NUMBER) + 1];
    let mut numbers = Vec::new();
    for item in raw.split(',') {
        let n = parse_part_number(item.trim())?;
        if !std::mem::replace(&mut seen[usize::from(n)], true) {
            if numbers.len() == MAX_PARTS_PER_LIST {
                return Err(BadPartNumber(format!(
                    "partNumbers names more than {MAX_PARTS_PER_LIST} parts; sign them in several requests"
                )));
            }
            numbers.push(n);
        }
    }
    Ok(numbers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_part_number() {
        assert_eq!(parse_part_number("1"), Ok(1));
        assert_eq!(parse_part_number("10000"), Ok(10_000));
        assert_eq!(parse_part_number("007"), Ok(7));
        for bad in [
            "",
            "0",
            "10001",
            "65536",
            "99999999999",
            "-1",
            "+1",
            "1.0",
            " 1",
            "batch",
            "1e3",
        ] {
            assert!(parse_part_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_list_of_part_numbers() {
        assert_eq!(parse_part_numbers("1,2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(parse_part_numbers("3, 1 ,2"), Ok(vec![3, 1, 2]));
        assert_eq!(parse_part_numbers("5,5,4"), Ok(vec![5, 4]));
        assert_eq!(parse_part_numbers("10000"), Ok(vec![10_000]));
        for bad in ["", " ", "1,", ",1", "1,,2", "1,0", "1,x", "1;2", "1,10001"] {
            assert!(parse_part_numbers(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_list_names_at_most_a_thousand_parts() {
        let list = |numbers: std::ops::RangeInclusive<u16>| {
            numbers.map(|n| n.to_string()).collect::<Vec<_>>().join(",")
        };
        assert_eq!(
            parse_part_numbers(&list(1..=1000)).map(|v| v.len()),
            Ok(1000)
        );
        let repeated = format!("{},{}", list(1..=1000), list(1..=1000));
        assert_eq!(
            parse_part_numbers(&repeated).map(|v| v.len()),
            Ok(1000),
            "repeats count once"
        );
        let refused = parse_part_numbers(&list(1..=1001)).unwrap_err();
        assert!(refused.0.contains("more than 1000"), "{}", refused.0);
    }
}
