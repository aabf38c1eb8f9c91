//! The part size of a fresh upload whose page left `partSize` unset, from
//! the link an earlier upload measured: bigger parts where the link is
//! fast, so fewer requests (and fewer record writes and signings) carry the
//! file.
//!
//! Measured on loopback (`npm run bench`, same run, 1 GiB, parts in flight
//! grown from the link): 8 MiB parts 103.9 MiB/s, 16 MiB 130.5, 32 MiB
//! 143.5. On a 60 ms / 400 Mbit/s emulated link (128 MiB): 0.77, 0.78 and
//! 0.80 of the link. So a link of at least [`FAST`] gets 32 MiB parts, one
//! of at least [`MEDIUM`] 16 MiB, and any other the default. A file keeps
//! at least [`MIN_PARTS`] parts, so that its parts still fill the requests
//! in flight, and never gets less than the default part size.
//!
//! ```
//! use resupload::core::part_size::for_link;
//! const MIB: u64 = 1 << 20;
//! // Loopback-fast, a 1 GiB file: 32 MiB parts.
//! assert_eq!(for_link(8 * MIB, 1024 * MIB, Some(150.0 * MIB as f64)), 32 * MIB);
//! // The same link, a 128 MiB file: 16 MiB parts (8 of them).
//! assert_eq!(for_link(8 * MIB, 128 * MIB, Some(150.0 * MIB as f64)), 16 * MIB);
//! // Nothing measured yet: the default.
//! assert_eq!(for_link(8 * MIB, 1024 * MIB, None), 8 * MIB);
//! ```

const MIB: u64 = 1 << 20;

/// A link this fast (bytes per second) gets 32 MiB parts.
pub const FAST: f64 = 100.0 * MIB as f64;
/// A link this fast (bytes per second) gets 16 MiB parts.
pub const MEDIUM: f64 = 40.0 * MIB as f64;
/// The fewest parts a file is cut into by a link's part size.
pub const MIN_PARTS: u64 = 8;

/// The part size for a file of `file_size` bytes on a link measured at
/// `bytes_per_second` (none: not measured), never below `default`.
pub fn for_link(default: u64, file_size: u64, bytes_per_second: Option<f64>) -> u64 {
    let wanted = match bytes_per_second {
        Some(rate) if rate >= FAST => 32 * MIB,
        Some(rate) if rate >= MEDIUM => 16 * MIB,
        _ => return default,
    };
    // Whole MiB, so that the parts of a file stay easy to read in a log.
    let most = file_size / MIN_PARTS / MIB * MIB;
    wanted.min(most).max(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: u64 = 8 * MIB;
    const GIB: u64 = 1024 * MIB;

    #[test]
    fn the_faster_the_link_the_bigger_the_parts() {
        let size = |mib_per_s: f64| for_link(DEFAULT, 4 * GIB, Some(mib_per_s * MIB as f64));
        assert_eq!(size(6.0), DEFAULT, "150 ms / 50 Mbit/s: as before");
        assert_eq!(size(39.9), DEFAULT);
        assert_eq!(size(40.0), 16 * MIB);
        assert_eq!(size(99.9), 16 * MIB);
        assert_eq!(size(100.0), 32 * MIB);
        assert_eq!(size(5_000.0), 32 * MIB, "never beyond 32 MiB");
    }

    #[test]
    fn a_file_keeps_enough_parts_and_never_gets_less_than_the_default() {
        let fast = Some(FAST);
        assert_eq!(for_link(DEFAULT, 256 * MIB, fast), 32 * MIB);
        assert_eq!(for_link(DEFAULT, 200 * MIB, fast), 25 * MIB);
        assert_eq!(for_link(DEFAULT, 64 * MIB, fast), DEFAULT);
        assert_eq!(for_link(DEFAULT, 10 * MIB, fast), DEFAULT);
        assert_eq!(for_link(16 * MIB, 10 * MIB, fast), 16 * MIB);
    }

    #[test]
    fn an_unmeasured_or_nonsense_rate_keeps_the_default() {
        for rate in [None, Some(0.0), Some(-1.0), Some(f64::NAN)] {
            assert_eq!(for_link(DEFAULT, 4 * GIB, rate), DEFAULT);
        }
    }
}
