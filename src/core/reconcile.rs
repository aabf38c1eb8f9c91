//! Resuming: the local record against the server's part list.
//!
//! The server wins. A part the server holds with the planned size is done,
//! with the server's ETag, whatever the record said; every other part (pending,
//! in flight, or "done" locally but unknown to the server) is sent again. A
//! part the server holds with the wrong size is sent again too (the new bytes
//! replace it), and part numbers beyond the plan are ignored (completion names
//! only parts 1..N, so they never reach the object).

use super::record::{PartState, UploadRecord};
use crate::core::text::{lines, parse_decimal, pieces};

/// One entry of the server's part list (`GET {endpoint}/multipart/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPart {
    /// The part number.
    pub part_number: u32,
    /// The stored size in bytes.
    pub size: u64,
    /// The stored ETag.
    pub etag: String,
    /// The stored SHA-256 (base64), when the upload was created with
    /// checksums and the backend passes them on.
    pub checksum_sha256: Option<String>,
}

impl ServerPart {
    /// Reads a part list packed one part per line, fields separated by tabs:
    /// `PartNumber`, `Size`, `ETag`, `ChecksumSHA256` (empty for none). The
    /// browser packs the backend's JSON list this way in JavaScript, so that
    /// a list of 10,000 parts crosses into wasm as one string, not 40,000
    /// property reads. `None` for a line of another shape.
    pub fn parse_lines(text: &str) -> Option<Vec<ServerPart>> {
        // A plain loop: collecting the `Option`s was 1.7 KB of iterator
        // adapters in the wasm.
        let mut parts = Vec::new();
        for line in lines(text) {
            parts.push(Self::parse_line(line)?);
        }
        Some(parts)
    }

    /// One line of [`parse_lines`](Self::parse_lines).
    fn parse_line(line: &str) -> Option<ServerPart> {
        let mut fields = pieces(line, b'\t');
        let part = ServerPart {
            part_number: u32::try_from(parse_decimal(fields.next()?)?).ok()?,
            size: parse_decimal(fields.next()?)?,
            etag: fields.next()?.to_owned(),
            checksum_sha256: Some(fields.next()?)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        };
        fields.next().is_none().then_some(part)
    }
}

/// What reconciliation decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reconciled {
    /// Parts the server already holds, which are not sent again.
    pub skipped_parts: u32,
    /// Their bytes.
    pub skipped_bytes: u64,
    /// Parts the record called done that the server does not hold.
    pub lost_parts: u32,
    /// Parts the server holds that this browser never saw confirmed (the
    /// record said pending or in flight). If such a part's last `PUT` was a
    /// second send cut off midway, the store may list it yet refuse it at
    /// completion (`InvalidPart`); these are the parts to send again then.
    pub unconfirmed: Vec<u32>,
    /// Every part whose state, ETag or checksum reconciling changed: the
    /// ones to write back.
    pub changed: Vec<u32>,
}

/// Rewrites `record`'s part states from the server's list and says what was
/// kept. After it, every part is either `Done` (with the server's ETag) or
/// `Pending`.
pub fn reconcile(record: &mut UploadRecord, server: &[ServerPart]) -> Reconciled {
    let mut held: Vec<Option<&ServerPart>> = vec![None; record.parts.len()];
    for part in server {
        if let Some(slot) = (part.part_number as usize)
            .checked_sub(1)
            .and_then(|i| held.get_mut(i))
        {
            *slot = Some(part);
        }
    }
    let mut out = Reconciled::default();
    for (part, held) in record.parts.iter_mut().zip(held) {
        let before = part.clone();
        match held {
            Some(server_part) if server_part.size == part.size && !server_part.etag.is_empty() => {
                if part.state != PartState::Done {
                    out.unconfirmed.push(part.number);
                }
                part.state = PartState::Done;
                part.etag = Some(server_part.etag.clone());
                // The server's checksum wins; without one, keep what was
                // hashed here (what verification then compares against).
                if let Some(checksum) = &server_part.checksum_sha256 {
                    part.checksum = Some(checksum.clone());
                }
                out.skipped_parts += 1;
                out.skipped_bytes += part.size;
            }
            _ => {
                if part.state == PartState::Done {
                    out.lost_parts += 1;
                }
                part.state = PartState::Pending;
                part.etag = None;
                part.checksum = None;
            }
        }
        if *part != before {
            out.changed.push(part.number);
        }
    }
    out
}

/// The ETag of part `number` as `listed` by the store, when that copy is
/// the part's bytes as this run sent them, whose answer was lost: the
/// store holds it with the part's `size`, and, when the part was hashed
/// here (`checksum`: checksums on, a streaming source), with the same
/// SHA-256. An unhashed part is a file's: a copy of that size is one of
/// this run's sends, or a send of the same bytes by another run of the
/// same file (another tab where the browser cannot lock, an earlier run's
/// request the store committed late), as reconciling took the file to be
/// the same. A hashed part the store lists without a checksum is not
/// taken: a streaming source's bytes may differ from run to run. `None`:
/// send the part again.
///
/// ```
/// use resupload::core::reconcile::{stored_copy, ServerPart};
/// let listed = [ServerPart { part_number: 2, size: 10, etag: "\"e\"".into(), checksum_sha256: None }];
/// assert_eq!(stored_copy(&listed, 2, 10, None), Some("\"e\""));
/// assert_eq!(stored_copy(&listed, 2, 11, None), None);
/// ```
pub fn stored_copy<'a>(
    listed: &'a [ServerPart],
    number: u32,
    size: u64,
    checksum: Option<&str>,
) -> Option<&'a str> {
    let part = listed.iter().find(|p| p.part_number == number)?;
    let same_bytes = match (checksum, part.checksum_sha256.as_deref()) {
        (Some(ours), theirs) => theirs == Some(ours),
        (None, _) => true,
    };
    (part.size == size && !part.etag.is_empty() && same_bytes).then_some(part.etag.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::MIB;
    use crate::core::record::{test_record, PartState::*};

    fn record(states: &[PartState]) -> UploadRecord {
        let size = 5 * MIB * (states.len() as u64 - 1) + MIB;
        let mut r = test_record("id", size);
        for (part, state) in r.parts.iter_mut().zip(states) {
            part.state = *state;
            if *state == Done {
                part.etag = Some(format!("\"local{}\"", part.number));
            }
        }
        r
    }

    fn server(parts: &[(u32, u64)]) -> Vec<ServerPart> {
        parts
            .iter()
            .map(|&(n, size)| ServerPart {
                part_number: n,
                size,
                etag: format!("\"server{n}\""),
                checksum_sha256: None,
            })
            .collect()
    }

    fn states(r: &UploadRecord) -> Vec<PartState> {
        r.parts.iter().map(|p| p.state).collect()
    }

    #[test]
    fn server_has_more_than_the_record() {
        // An in-flight part finished on the server before the tab died.
        let mut r = record(&[Done, InFlight, Pending]);
        let out = reconcile(&mut r, &server(&[(1, 5 * MIB), (2, 5 * MIB)]));
        assert_eq!(states(&r), [Done, Done, Pending]);
        assert_eq!(r.parts[1].etag.as_deref(), Some("\"server2\""));
        assert_eq!(
            r.parts[0].etag.as_deref(),
            Some("\"server1\""),
            "the server's ETag wins"
        );
        assert_eq!(out.skipped_parts, 2);
        assert_eq!(out.skipped_bytes, 10 * MIB);
        assert_eq!(out.lost_parts, 0);
        assert_eq!(out.unconfirmed, [2]);
        assert_eq!(out.changed, [1, 2], "part 1's ETag, part 2's state");
    }

    #[test]
    fn server_has_fewer_than_the_record() {
        let mut r = record(&[Done, Done, Done]);
        let out = reconcile(&mut r, &server(&[(2, 5 * MIB)]));
        assert_eq!(states(&r), [Pending, Done, Pending]);
        assert_eq!(r.parts[0].etag, None);
        assert_eq!(out.lost_parts, 2);
        assert_eq!(out.skipped_parts, 1);
    }

    #[test]
    fn server_has_different_parts() {
        // Wrong size for part 1, an unknown part 9, nothing for part 3.
        let mut r = record(&[InFlight, Pending, Done]);
        let out = reconcile(
            &mut r,
            &server(&[(1, 4 * MIB), (2, 5 * MIB), (9, 5 * MIB), (0, 1)]),
        );
        assert_eq!(states(&r), [Pending, Done, Pending]);
        assert_eq!(out.skipped_parts, 1);
        assert_eq!(out.skipped_bytes, 5 * MIB);
        assert_eq!(out.lost_parts, 1);
    }

    #[test]
    fn empty_server_list_resends_everything() {
        let mut r = record(&[Done, InFlight]);
        let out = reconcile(&mut r, &[]);
        assert_eq!(states(&r), [Pending, Pending]);
        assert_eq!(
            out,
            Reconciled {
                skipped_parts: 0,
                skipped_bytes: 0,
                lost_parts: 1,
                unconfirmed: vec![],
                changed: vec![1, 2],
            }
        );
    }

    #[test]
    fn packed_part_lists_are_read_strictly() {
        let text = "1\t5242880\t\"e1\"\tAAA=\n2\t7\t\"e2\"\t\n";
        assert_eq!(
            ServerPart::parse_lines(text),
            Some(vec![
                ServerPart {
                    part_number: 1,
                    size: 5242880,
                    etag: "\"e1\"".into(),
                    checksum_sha256: Some("AAA=".into()),
                },
                ServerPart {
                    part_number: 2,
                    size: 7,
                    etag: "\"e2\"".into(),
                    checksum_sha256: None,
                },
            ])
        );
        assert_eq!(ServerPart::parse_lines(""), Some(vec![]));
        for bad in [
            "1.5\t1\te\t\n",
            "-1\t1\te\t\n",
            "1\t1\te\n",
            "1\t1\te\tc\textra\n",
        ] {
            assert_eq!(ServerPart::parse_lines(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn last_part_size_is_checked() {
        let mut r = record(&[Pending, Pending]);
        reconcile(&mut r, &server(&[(2, MIB)]));
        assert_eq!(states(&r), [Pending, Done]);
        let mut r = record(&[Pending, Pending]);
        reconcile(&mut r, &server(&[(2, MIB + 1)]));
        assert_eq!(states(&r), [Pending, Pending]);
    }

    #[test]
    fn a_stored_copy_counts_only_with_the_parts_size_and_checksum() {
        let part = |etag: &str, checksum: Option<&str>| ServerPart {
            part_number: 3,
            size: 7,
            etag: etag.into(),
            checksum_sha256: checksum.map(Into::into),
        };
        let listed = [part("\"a\"", Some("c3"))];
        assert_eq!(stored_copy(&listed, 3, 7, Some("c3")), Some("\"a\""));
        assert_eq!(
            stored_copy(&listed, 3, 7, None),
            Some("\"a\""),
            "no hash here: the size"
        );
        assert_eq!(
            stored_copy(&listed, 3, 7, Some("other")),
            None,
            "other bytes"
        );
        assert_eq!(stored_copy(&listed, 3, 8, Some("c3")), None, "another size");
        assert_eq!(stored_copy(&listed, 2, 7, Some("c3")), None, "not listed");
        assert_eq!(stored_copy(&[part("", None)], 3, 7, None), None, "no ETag");
        assert_eq!(
            stored_copy(&[part("\"b\"", None)], 3, 7, Some("c3")),
            None,
            "hashed here, but no checksum there to compare"
        );
    }

    #[test]
    fn the_servers_checksum_wins_and_a_local_one_stays_without_it() {
        let mut r = record(&[InFlight, Done, InFlight]);
        for part in &mut r.parts {
            part.checksum = Some(format!("local{}", part.number));
        }
        let mut listed = server(&[(1, 5 * MIB), (2, 5 * MIB)]);
        listed[0].checksum_sha256 = Some("server1".into());
        reconcile(&mut r, &listed);
        let checksums: Vec<_> = r.parts.iter().map(|p| p.checksum.as_deref()).collect();
        assert_eq!(checksums, [Some("server1"), Some("local2"), None]);
    }
}
