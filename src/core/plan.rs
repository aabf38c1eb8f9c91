//! Part planning within S3's multipart limits.
//!
//! S3 (and every S3-compatible store this library targets) wants parts of at
//! least 5 MiB except the last, at most 5 GiB, and at most 10,000 of them.
//! [`PartPlan::new`] turns a file size and a wished-for part size into whole
//! byte ranges that keep those rules, raising the part size when the file would
//! otherwise need more than 10,000 parts.
//!
//! ```
//! use resupload::core::plan::{PartPlan, MIB, DEFAULT_MAX_OBJECT_SIZE};
//! let plan = PartPlan::new(20 * MIB + 1, 8 * MIB, DEFAULT_MAX_OBJECT_SIZE).unwrap();
//! assert_eq!(plan.count(), 3);
//! assert_eq!(plan.range(3), 16 * MIB..20 * MIB + 1);
//! ```

use std::ops::Range;

use crate::core::text::decimal;
use crate::error::{Error, ErrorKind};

/// One mebibyte.
pub const MIB: u64 = 1024 * 1024;
/// One gibibyte.
pub const GIB: u64 = 1024 * MIB;
/// The smallest part S3 accepts, except for the last part.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest part S3 accepts.
pub const MAX_PART_SIZE: u64 = 5 * GIB;
/// The most parts one multipart upload may have.
pub const MAX_PARTS: u32 = 10_000;
/// The part size used when none is given.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// The largest object S3 accepts: 10,000 parts of 5 GiB, 53,687,091,200,000
/// bytes (AWS documents it as 48.8 TiB).
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = MAX_PARTS as u64 * MAX_PART_SIZE;
/// The largest size a JavaScript number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Checks a wished-for part size and an object size limit, without a
/// file: [`ErrorKind::InvalidOption`] (naming `partSize` or `maxObjectSize`)
/// when the part size is outside 5 MiB..=5 GiB or the limit outside
/// 1..=the S3 maximum.
pub fn check_limits(part_size: u64, max_object_size: u64) -> Result<(), Error> {
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
        return Err(Error::invalid_option(
            "partSize",
            [
                &decimal(part_size),
                " bytes is outside S3's limits: use 5 MiB (",
                &decimal(MIN_PART_SIZE),
                ") to 5 GiB (",
                &decimal(MAX_PART_SIZE),
                ")",
            ]
            .concat(),
        ));
    }
    if max_object_size == 0 || max_object_size > DEFAULT_MAX_OBJECT_SIZE {
        return Err(Error::invalid_option(
            "maxObjectSize",
            [
                "must be 1 to ",
                &decimal(DEFAULT_MAX_OBJECT_SIZE),
                " bytes (10,000 parts of 5 GiB)",
            ]
            .concat(),
        ));
    }
    Ok(())
}

/// Checks that a file of `size` bytes fits `max_object_size`:
/// [`ErrorKind::FileTooLarge`] when it is over.
pub fn check_fits(size: u64, max_object_size: u64) -> Result<(), Error> {
    match size > max_object_size {
        true => Err(ErrorKind::FileTooLarge {
            size,
            max: max_object_size,
        }
        .into()),
        false => Ok(()),
    }
}

/// How a file of a given size is cut into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    total_size: u64,
    part_size: u64,
    count: u32,
}

impl PartPlan {
    /// Plans `total_size` bytes in parts of `wanted_part_size`, raised (to a
    /// whole MiB) as needed so that no more than [`MAX_PARTS`] are needed.
    ///
    /// Errors: [`ErrorKind::InvalidOption`] when `wanted_part_size` is outside
    /// 5 MiB..=5 GiB or `max_object_size` is outside 1..=the S3 maximum;
    /// [`ErrorKind::FileTooLarge`] when `total_size` is over `max_object_size`.
    /// A 0-byte file is one empty part.
    pub fn new(
        total_size: u64,
        wanted_part_size: u64,
        max_object_size: u64,
    ) -> Result<Self, Error> {
        check_limits(wanted_part_size, max_object_size)?;
        check_fits(total_size, max_object_size)?;
        let smallest_fitting = total_size.div_ceil(u64::from(MAX_PARTS));
        let part_size = if smallest_fitting > wanted_part_size {
            // Round up to a whole MiB; 5 GiB is a whole MiB, so this stays
            // within MAX_PART_SIZE because total_size <= 10,000 * 5 GiB.
            smallest_fitting.div_ceil(MIB) * MIB
        } else {
            wanted_part_size
        };
        Ok(Self::with_part_size(total_size, part_size))
    }

    /// A plan with exactly this part size (used to resume with the part size
    /// an upload began with). `part_size` must be at least 1 and the result
    /// must have at most [`MAX_PARTS`] parts, which the caller checks with
    /// [`PartPlan::is_valid`].
    pub fn with_part_size(total_size: u64, part_size: u64) -> Self {
        let part_size = part_size.max(1);
        let count = total_size.div_ceil(part_size).max(1);
        PartPlan {
            total_size,
            part_size,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        }
    }

    /// Whether the plan keeps S3's rules (part size and count).
    pub fn is_valid(&self) -> bool {
        (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size) && self.count <= MAX_PARTS
    }

    /// The file's size in bytes.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The size of every part but the last.
    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// How many parts there are (at least 1, even for a 0-byte file).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The byte range of part `number` (1-based).
    ///
    /// # Panics
    /// If `number` is 0 or over [`PartPlan::count`].
    pub fn range(&self, number: u32) -> Range<u64> {
        assert!(
            number >= 1 && number <= self.count,
            "part {number} is not in the plan"
        );
        let start = u64::from(number - 1) * self.part_size;
        let end = (start + self.part_size).min(self.total_size);
        start..end
    }

    /// The size of part `number` (1-based).
    pub fn size_of(&self, number: u32) -> u64 {
        let range = self.range(number);
        range.end - range.start
    }

    /// The part numbers, 1 to [`PartPlan::count`].
    pub fn numbers(&self) -> impl Iterator<Item = u32> {
        // Not `1..=count`: an inclusive range is more code at every loop
        // (its end is a case of its own). A valid plan has at most
        // `MAX_PARTS`; an invalid one is never walked (and does not wrap).
        1..self.count.saturating_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(size: u64) -> PartPlan {
        PartPlan::new(size, DEFAULT_PART_SIZE, DEFAULT_MAX_OBJECT_SIZE).unwrap()
    }

    fn assert_covers(plan: &PartPlan) {
        let mut next = 0;
        for n in plan.numbers() {
            let r = plan.range(n);
            assert_eq!(r.start, next, "part {n} starts where the last ended");
            if n < plan.count() {
                assert!(
                    r.end - r.start >= MIN_PART_SIZE,
                    "part {n} is at least 5 MiB"
                );
            }
            assert!(r.end - r.start <= MAX_PART_SIZE);
            next = r.end;
        }
        assert_eq!(next, plan.total_size());
        assert!(plan.count() <= MAX_PARTS);
    }

    #[test]
    fn zero_bytes_is_one_empty_part() {
        let p = plan(0);
        assert_eq!(p.count(), 1);
        assert_eq!(p.range(1), 0..0);
        assert_covers(&p);
    }

    #[test]
    fn one_byte_is_one_part() {
        let p = plan(1);
        assert_eq!(p.count(), 1);
        assert_eq!(p.range(1), 0..1);
    }

    #[test]
    fn exactly_five_mib_with_five_mib_parts_is_one_part() {
        let p = PartPlan::new(5 * MIB, 5 * MIB, DEFAULT_MAX_OBJECT_SIZE).unwrap();
        assert_eq!(p.count(), 1);
        assert_eq!(p.size_of(1), 5 * MIB);
        let q = PartPlan::new(5 * MIB + 1, 5 * MIB, DEFAULT_MAX_OBJECT_SIZE).unwrap();
        assert_eq!(q.count(), 2);
        assert_eq!(q.size_of(2), 1);
        assert_covers(&q);
    }

    #[test]
    fn last_part_holds_the_remainder() {
        let p = plan(20 * MIB + 1);
        assert_eq!(p.count(), 3);
        assert_eq!(p.size_of(1), 8 * MIB);
        assert_eq!(p.size_of(3), 4 * MIB + 1);
        assert_covers(&p);
    }

    #[test]
    fn ten_thousand_parts_boundary() {
        let at = plan(10_000 * DEFAULT_PART_SIZE);
        assert_eq!(at.count(), 10_000);
        assert_eq!(at.part_size(), DEFAULT_PART_SIZE);
        assert_covers(&at);

        let over = plan(10_000 * DEFAULT_PART_SIZE + 1);
        assert!(over.part_size() > DEFAULT_PART_SIZE);
        assert_eq!(over.part_size() % MIB, 0, "raised part sizes are whole MiB");
        assert!(over.count() <= 10_000);
        assert_covers(&over);
    }

    #[test]
    fn largest_object_fits_in_ten_thousand_five_gib_parts() {
        let p = plan(DEFAULT_MAX_OBJECT_SIZE);
        assert_eq!(p.part_size(), MAX_PART_SIZE);
        assert_eq!(p.count(), MAX_PARTS);
        assert_covers(&p);
        assert_eq!(DEFAULT_MAX_OBJECT_SIZE, 53_687_091_200_000);
    }

    #[test]
    fn just_over_the_largest_object_is_too_large() {
        let err = PartPlan::new(
            DEFAULT_MAX_OBJECT_SIZE + 1,
            DEFAULT_PART_SIZE,
            DEFAULT_MAX_OBJECT_SIZE,
        )
        .unwrap_err();
        assert_eq!(err.code(), "FILE_TOO_LARGE");
    }

    #[test]
    fn a_lower_maximum_is_kept() {
        let err = PartPlan::new(5 * GIB + 1, DEFAULT_PART_SIZE, 5 * GIB).unwrap_err();
        assert_eq!(
            err,
            ErrorKind::FileTooLarge {
                size: 5 * GIB + 1,
                max: 5 * GIB
            }
            .into()
        );
        assert!(PartPlan::new(5 * GIB, DEFAULT_PART_SIZE, 5 * GIB).is_ok());
    }

    #[test]
    fn part_size_outside_s3_limits_is_refused() {
        for bad in [0, 1, MIN_PART_SIZE - 1, MAX_PART_SIZE + 1] {
            let err = PartPlan::new(MIB, bad, DEFAULT_MAX_OBJECT_SIZE).unwrap_err();
            assert_eq!(err.code(), "INVALID_OPTION", "{bad}");
        }
        assert!(PartPlan::new(MIB, MIN_PART_SIZE, DEFAULT_MAX_OBJECT_SIZE).is_ok());
        assert!(PartPlan::new(MIB, MAX_PART_SIZE, DEFAULT_MAX_OBJECT_SIZE).is_ok());
    }

    #[test]
    fn max_object_size_option_is_checked() {
        assert!(PartPlan::new(1, DEFAULT_PART_SIZE, 0).is_err());
        assert!(PartPlan::new(1, DEFAULT_PART_SIZE, DEFAULT_MAX_OBJECT_SIZE + 1).is_err());
    }

    #[test]
    fn resumed_plan_keeps_its_part_size() {
        let p = PartPlan::with_part_size(100 * MIB, 16 * MIB);
        assert_eq!(p.count(), 7);
        assert!(p.is_valid());
        assert!(!PartPlan::with_part_size(100 * MIB, MIB).is_valid());
    }
}
