//! The S3 XML this server reads (ListParts, ListMultipartUploads,
//! CompleteMultipartUploadResult, errors) and writes
//! (CompleteMultipartUpload, CORSConfiguration).

use quick_xml::escape::escape;
use quick_xml::events::Event;
use serde::Deserialize;

/// The S3 XML namespace.
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// One page of a ListParts answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsPage {
    /// The parts of this page.
    pub parts: Vec<ListedPart>,
    /// Where the next page starts, if the listing is truncated.
    pub next_marker: Option<u16>,
}

/// A part the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    /// Its part number, 1 to 10000.
    pub part_number: u16,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, as the store gives it (quoted).
    pub etag: String,
    /// Its SHA-256 (base64), if the upload was created with that checksum
    /// algorithm.
    pub checksum_sha256: Option<String>,
}

#[derive(Deserialize)]
struct ListPartsResult {
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextPartNumberMarker", default)]
    next_part_number_marker: Option<String>,
    #[serde(rename = "Part", default)]
    parts: Vec<XmlPart>,
}

#[derive(Deserialize)]
struct XmlPart {
    #[serde(rename = "PartNumber")]
    part_number: u16,
    #[serde(rename = "Size")]
    size: u64,
    #[serde(rename = "ETag")]
    etag: String,
    #[serde(rename = "ChecksumSHA256", default)]
    checksum_sha256: Option<String>,
}

/// A checksum element's text, if it has any.
fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Parses a ListParts answer.
///
/// `NextPartNumberMarker` is only used when `IsTruncated` is true (some
/// stores send `0` or the last part number on the last page).
///
/// # Errors
/// Unparsable XML, or a truncated page without a usable marker.
pub fn parse_list_parts(xml: &str) -> Result<PartsPage, String> {
    let result: ListPartsResult =
        quick_xml::de::from_str(xml).map_err(|e| format!("bad ListParts XML: {e}"))?;
    let next_marker = if result.is_truncated {
        let marker = result
            .next_part_number_marker
            .as_deref()
            .map(str::trim)
            .and_then(|m| m.parse::<u16>().ok())
            .filter(|m| *m > 0)
            .ok_or("ListParts is truncated but has no NextPartNumberMarker")?;
        Some(marker)
    } else {
        None
    };
    Ok(PartsPage {
        parts: result
            .parts
            .into_iter()
            .map(|p| ListedPart {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
                checksum_sha256: non_empty(p.checksum_sha256),
            })
            .collect(),
        next_marker,
    })
}

/// One page of a ListMultipartUploads answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadsPage {
    /// `(key, upload id, initiated)` of each in-progress upload of this
    /// page (`initiated` as the store wrote it, RFC 3339).
    pub uploads: Vec<(String, String, Option<String>)>,
    /// `(key marker, upload id marker)` of the next page, if truncated.
    pub next: Option<(String, String)>,
}

#[derive(Deserialize)]
struct ListMultipartUploadsResult {
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextKeyMarker", default)]
    next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker", default)]
    next_upload_id_marker: Option<String>,
    #[serde(rename = "Upload", default)]
    uploads: Vec<XmlUpload>,
}

#[derive(Deserialize)]
struct XmlUpload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
    #[serde(rename = "Initiated", default)]
    initiated: Option<String>,
}

/// Parses a ListMultipartUploads answer.
///
/// # Errors
/// Unparsable XML, or a truncated page without a next key marker.
pub fn parse_list_uploads(xml: &str) -> Result<UploadsPage, String> {
    let result: ListMultipartUploadsResult =
        quick_xml::de::from_str(xml).map_err(|e| format!("bad ListMultipartUploads XML: {e}"))?;
    let next = if result.is_truncated {
        let key = result
            .next_key_marker
            .filter(|k| !k.is_empty())
            .ok_or("ListMultipartUploads is truncated but has no NextKeyMarker")?;
        Some((key, result.next_upload_id_marker.unwrap_or_default()))
    } else {
        None
    };
    Ok(UploadsPage {
        uploads: result
            .uploads
            .into_iter()
            .map(|u| (u.key, u.upload_id, non_empty(u.initiated)))
            .collect(),
        next,
    })
}

/// An S3 `<Error>` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct S3Error {
    /// Like `NoSuchUpload`.
    #[serde(rename = "Code")]
    pub code: String,
    /// A human readable message, if any.
    #[serde(rename = "Message", default)]
    pub message: Option<String>,
}

/// Parses an S3 `<Error>` body; `None` if `xml` is not one.
pub fn parse_error(xml: &str) -> Option<S3Error> {
    if root_name(xml).as_deref() != Some("Error") {
        return None;
    }
    quick_xml::de::from_str(xml).ok()
}

/// The local name of the root element of `xml`, if it has one.
pub fn root_name(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e) | Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// One part of a CompleteMultipartUpload request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletePart<'a> {
    /// Its part number.
    pub number: u16,
    /// Its ETag, as the store gave it (quoted).
    pub etag: &'a str,
    /// Its SHA-256 (base64), which the store checks against the part's.
    pub checksum_sha256: Option<&'a str>,
}

/// The CompleteMultipartUpload body for `parts` (already in order), with
/// their part numbers as given.
pub fn complete_body(parts: &[CompletePart<'_>]) -> String {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="{S3_NS}">"#
    );
    for part in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag>",
            part.number,
            escape(part.etag)
        ));
        if let Some(checksum) = part.checksum_sha256 {
            xml.push_str(&format!(
                "<ChecksumSHA256>{}</ChecksumSHA256>",
                escape(checksum)
            ));
        }
        xml.push_str("</Part>");
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// What a CompleteMultipartUploadResult says about the object's checksum.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompleteResult {
    /// `<ChecksumSHA256>`: for a composite checksum,
    /// `base64(sha256(digest 1 || ... || digest N))-N`.
    pub checksum_sha256: Option<String>,
    /// `<ChecksumType>`, like `COMPOSITE` or `FULL_OBJECT`.
    pub checksum_type: Option<String>,
}

#[derive(Deserialize)]
struct CompleteMultipartUploadResult {
    #[serde(rename = "ChecksumSHA256", default)]
    checksum_sha256: Option<String>,
    #[serde(rename = "ChecksumType", default)]
    checksum_type: Option<String>,
}

/// Parses a CompleteMultipartUploadResult (whose root element the caller
/// has checked).
///
/// # Errors
/// Unparsable XML.
pub fn parse_complete_result(xml: &str) -> Result<CompleteResult, String> {
    let result: CompleteMultipartUploadResult = quick_xml::de::from_str(xml)
        .map_err(|e| format!("bad CompleteMultipartUploadResult XML: {e}"))?;
    Ok(CompleteResult {
        checksum_sha256: non_empty(result.checksum_sha256),
        checksum_type: non_empty(result.checksum_type),
    })
}

/// One bucket CORS rule, every field S3 defines for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsRule {
    /// Its `<ID>`, if it has one (S3 and Garage keep it).
    pub id: Option<String>,
    /// Origins allowed, like `http://127.0.0.1:8080`.
    pub allowed_origins: Vec<String>,
    /// Methods allowed, like `PUT`.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed (`*` for any).
    pub allowed_headers: Vec<String>,
    /// Response headers the page may read, like `ETag`.
    pub expose_headers: Vec<String>,
    /// How long browsers may cache a preflight answer, if the rule says.
    pub max_age_seconds: Option<u32>,
}

#[derive(Deserialize)]
struct CorsConfiguration {
    #[serde(rename = "CORSRule", default)]
    rules: Vec<XmlCorsRule>,
}

#[derive(Deserialize)]
struct XmlCorsRule {
    #[serde(rename = "ID", default)]
    id: Option<String>,
    #[serde(rename = "AllowedOrigin", default)]
    origins: Vec<String>,
    #[serde(rename = "AllowedMethod", default)]
    methods: Vec<String>,
    #[serde(rename = "AllowedHeader", default)]
    headers: Vec<String>,
    #[serde(rename = "ExposeHeader", default)]
    expose: Vec<String>,
    #[serde(rename = "MaxAgeSeconds", default)]
    max_age_seconds: Option<u32>,
}

/// The rules of a GetBucketCors answer, in order, every field kept.
///
/// # Errors
/// Unparsable XML.
pub fn parse_cors_rules(xml: &str) -> Result<Vec<CorsRule>, String> {
    let config: CorsConfiguration =
        quick_xml::de::from_str(xml).map_err(|e| format!("bad GetBucketCors XML: {e}"))?;
    Ok(config
        .rules
        .into_iter()
        .map(|r| CorsRule {
            id: r.id,
            allowed_origins: r.origins,
            allowed_methods: r.methods,
            allowed_headers: r.headers,
            expose_headers: r.expose,
            max_age_seconds: r.max_age_seconds,
        })
        .collect())
}

/// Appends `<tag>value</tag>` to `xml` for each of `values`, escaped.
fn push_elements(xml: &mut String, tag: &str, values: &[String]) {
    for value in values {
        xml.push_str(&format!("<{tag}>{}</{tag}>", escape(value.as_str())));
    }
}

/// The PutBucketCors body for `rules`, in order.
pub fn cors_body(rules: &[CorsRule]) -> String {
    let mut xml =
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="{S3_NS}">"#);
    for rule in rules {
        xml.push_str("<CORSRule>");
        push_elements(&mut xml, "ID", rule.id.as_slice());
        push_elements(&mut xml, "AllowedOrigin", &rule.allowed_origins);
        push_elements(&mut xml, "AllowedMethod", &rule.allowed_methods);
        push_elements(&mut xml, "AllowedHeader", &rule.allowed_headers);
        push_elements(&mut xml, "ExposeHeader", &rule.expose_headers);
        if let Some(max_age) = rule.max_age_seconds {
            xml.push_str(&format!("<MaxAgeSeconds>{max_age}</MaxAgeSeconds>"));
        }
        xml.push_str("</CORSRule>");
    }
    xml.push_str("</CORSConfiguration>");
    xml
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ListParts page holding `numbers`, truncated with `marker` when given.
    pub(crate) fn list_parts_page(numbers: &[u16], truncated: bool, marker: &str) -> String {
        let parts: String = numbers
            .iter()
            .map(|n| {
                format!(
                    "<Part><PartNumber>{n}</PartNumber><LastModified>2024-01-01T00:00:00.000Z</LastModified>\
                     <ETag>&quot;etag{n}&quot;</ETag><Size>{}</Size></Part>",
                    u64::from(*n) * 10
                )
            })
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>resupload</Bucket><Key>uploads/x/a b.txt</Key><UploadId>abc</UploadId>
  <PartNumberMarker>0</PartNumberMarker>{marker}<MaxParts>2</MaxParts>
  <IsTruncated>{truncated}</IsTruncated>{parts}
</ListPartsResult>"#
        )
    }

    #[test]
    fn parses_a_list_parts_page() {
        let page = parse_list_parts(&list_parts_page(
            &[1, 2],
            true,
            "<NextPartNumberMarker>2</NextPartNumberMarker>",
        ))
        .unwrap();
        assert_eq!(page.next_marker, Some(2));
        assert_eq!(
            page.parts,
            [
                ListedPart {
                    part_number: 1,
                    size: 10,
                    etag: "\"etag1\"".to_owned(),
                    checksum_sha256: None,
                },
                ListedPart {
                    part_number: 2,
                    size: 20,
                    etag: "\"etag2\"".to_owned(),
                    checksum_sha256: None,
                },
            ]
        );
    }

    #[test]
    fn parses_a_page_as_garage_writes_it() {
        // Garage 2.5.0, ListParts with max-parts=1 on an upload of 2 parts.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>resupload</Bucket><Key>uploads/c37634ff9846458f7c2098d5ec9db7ee/paging.bin</Key><UploadId>1f245fe409157e6b6353805fc5979187c95af407b304526b0023790e69e9cfac</UploadId><NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated><Part><ETag>&quot;9dd4e461268c8034f5c8564e155c67a6&quot;</ETag><LastModified>2026-11-25T05:37:46.964Z</LastModified><PartNumber>1</PartNumber><Size>1</Size></Part><Initiator><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Initiator><Owner><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Owner><StorageClass>STANDARD</StorageClass></ListPartsResult>"#;
        let page = parse_list_parts(xml).unwrap();
        assert_eq!(page.next_marker, Some(1));
        assert_eq!(
            page.parts,
            [ListedPart {
                part_number: 1,
                size: 1,
                etag: "\"9dd4e461268c8034f5c8564e155c67a6\"".to_owned(),
                checksum_sha256: None,
            }]
        );
    }

    #[test]
    fn the_last_page_ignores_its_marker() {
        for marker in [
            "",
            "<NextPartNumberMarker>0</NextPartNumberMarker>",
            "<NextPartNumberMarker>3</NextPartNumberMarker>",
        ] {
            let page = parse_list_parts(&list_parts_page(&[3], false, marker)).unwrap();
            assert_eq!(page.next_marker, None, "{marker}");
            assert_eq!(page.parts.len(), 1);
        }
    }

    #[test]
    fn a_truncated_page_needs_a_marker() {
        for marker in [
            "",
            "<NextPartNumberMarker></NextPartNumberMarker>",
            "<NextPartNumberMarker>0</NextPartNumberMarker>",
        ] {
            assert!(
                parse_list_parts(&list_parts_page(&[1], true, marker)).is_err(),
                "{marker}"
            );
        }
    }

    #[test]
    fn an_empty_list() {
        let page = parse_list_parts(&list_parts_page(&[], false, "")).unwrap();
        assert!(page.parts.is_empty());
    }

    #[test]
    fn parses_list_uploads() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>
<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
<Upload><Key>k1</Key><UploadId>u1</UploadId><Initiated>2024-01-01T00:00:00Z</Initiated></Upload>
<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload>
</ListMultipartUploadsResult>"#;
        let page = parse_list_uploads(xml).unwrap();
        assert_eq!(
            page.uploads,
            [
                (
                    "k1".into(),
                    "u1".into(),
                    Some("2024-01-01T00:00:00Z".into())
                ),
                ("k2".into(), "u2".into(), None)
            ]
        );
        assert_eq!(page.next, Some(("k2".into(), "u2".into())));

        let empty = r#"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        assert_eq!(
            parse_list_uploads(empty).unwrap(),
            UploadsPage {
                uploads: vec![],
                next: None
            }
        );
    }

    #[test]
    fn parses_errors() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>Upload not found</Message><Resource>/b/k</Resource></Error>"#;
        assert_eq!(
            parse_error(xml),
            Some(S3Error {
                code: "NoSuchUpload".into(),
                message: Some("Upload not found".into())
            })
        );
        assert_eq!(parse_error("<ListPartsResult/>"), None);
        assert_eq!(parse_error("not xml <"), None);
        assert_eq!(parse_error(""), None);
    }

    fn part<'a>(number: u16, etag: &'a str, checksum_sha256: Option<&'a str>) -> CompletePart<'a> {
        CompletePart {
            number,
            etag,
            checksum_sha256,
        }
    }

    #[test]
    fn builds_a_complete_body_with_escaped_etags() {
        let xml = complete_body(&[part(1, "\"a\"", None), part(3, "b<&", None)]);
        assert!(xml.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"));
        assert!(xml.contains("<PartNumber>3</PartNumber><ETag>b&lt;&amp;</ETag></Part>"));
        assert!(!xml.contains("Checksum"));
        assert_eq!(root_name(&xml).as_deref(), Some("CompleteMultipartUpload"));
    }

    #[test]
    fn builds_a_complete_body_with_checksums() {
        let sum = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        let xml = complete_body(&[part(1, "\"a\"", Some(sum)), part(2, "\"b\"", None)]);
        assert!(xml.contains(&format!(
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag><ChecksumSHA256>{sum}</ChecksumSHA256></Part>\
             <Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"
        )));
    }

    #[test]
    fn parses_part_checksums() {
        let xml = list_parts_page(&[1], false, "").replace(
            "<Size>",
            "<ChecksumSHA256>ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=</ChecksumSHA256><Size>",
        );
        let page = parse_list_parts(&xml).unwrap();
        assert_eq!(
            page.parts[0].checksum_sha256.as_deref(),
            Some("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")
        );
        let empty = list_parts_page(&[1], false, "")
            .replace("<Size>", "<ChecksumSHA256></ChecksumSHA256><Size>");
        assert_eq!(
            parse_list_parts(&empty).unwrap().parts[0].checksum_sha256,
            None
        );
    }

    #[test]
    fn parses_part_checksums_as_garage_writes_them() {
        // Garage 2.5.0, ListParts of an upload created with
        // x-amz-checksum-algorithm: SHA256 (parts of 5 MiB of "a" and "bbb").
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>resupload</Bucket><Key>uploads/x/0123456789abcdef0123456789abcdef/a.bin</Key><UploadId>3b1d79fe8406fbf80e6b9b470790afc450e384e3fec5c3cdb27e824f2a396235</UploadId><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><Part><ETag>&quot;79b281060d337b9b2b84ccf390adcf74&quot;</ETag><LastModified>2026-11-25T07:35:57.520Z</LastModified><PartNumber>1</PartNumber><Size>5242880</Size><ChecksumSHA256>oplo+tLngqqfIECjXwWtuX7Yl56x9XLIyOp4Y34nXzw=</ChecksumSHA256></Part><Part><ETag>&quot;08f8e0260c64418510cefb2b06eee5cd&quot;</ETag><LastModified>2026-11-25T07:35:57.547Z</LastModified><PartNumber>2</PartNumber><Size>3</Size><ChecksumSHA256>PnRLncOTibrwxaBmBYm4QC89u0m4mz518sk1WFKjxnc=</ChecksumSHA256></Part><Initiator><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Initiator><Owner><DisplayName>Dummy Key</DisplayName><ID>GKDummyKey</ID></Owner><StorageClass>STANDARD</StorageClass></ListPartsResult>"#;
        let page = parse_list_parts(xml).unwrap();
        assert_eq!(page.next_marker, None);
        assert_eq!(
            page.parts,
            [
                ListedPart {
                    part_number: 1,
                    size: 5_242_880,
                    etag: "\"79b281060d337b9b2b84ccf390adcf74\"".to_owned(),
                    checksum_sha256: Some(
                        "oplo+tLngqqfIECjXwWtuX7Yl56x9XLIyOp4Y34nXzw=".to_owned()
                    ),
                },
                ListedPart {
                    part_number: 2,
                    size: 3,
                    etag: "\"08f8e0260c64418510cefb2b06eee5cd\"".to_owned(),
                    checksum_sha256: Some(
                        "PnRLncOTibrwxaBmBYm4QC89u0m4mz518sk1WFKjxnc=".to_owned()
                    ),
                },
            ]
        );
    }

    #[test]
    fn parses_a_complete_result_as_garage_writes_it() {
        // Garage 2.5.0, the same upload completed: the composite checksum is
        // base64(sha256(digest 1 || digest 2)) with a -2 suffix.
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>https://resupload.s3.garage.localhost/uploads/x/0123456789abcdef0123456789abcdef/a.bin</Location><Bucket>resupload</Bucket><Key>uploads/x/0123456789abcdef0123456789abcdef/a.bin</Key><ETag>&quot;06a6ca67e53064f3f30a42ee29a62f5d-2&quot;</ETag><ChecksumSHA256>gDrP5FwCfWjU1qVqWfAgL+dUtgwH0Gl3tgBARzkxMWI=-2</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"#;
        assert_eq!(
            parse_complete_result(xml).unwrap(),
            CompleteResult {
                checksum_sha256: Some("gDrP5FwCfWjU1qVqWfAgL+dUtgwH0Gl3tgBARzkxMWI=-2".into()),
                checksum_type: Some("COMPOSITE".into()),
            }
        );
    }

    #[test]
    fn parses_a_complete_result() {
        let plain = r#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://resupload.localhost/k</Location><Bucket>resupload</Bucket><Key>k</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-2&quot;</ETag></CompleteMultipartUploadResult>"#;
        assert_eq!(
            parse_complete_result(plain).unwrap(),
            CompleteResult::default()
        );
        let summed = plain.replace(
            "</ETag>",
            "</ETag><ChecksumSHA256>Vgv4UPSgxrI0TOp0wVWBVEkzWmWBsqV4wMa5sCeXWpE=-2</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType>",
        );
        assert_eq!(
            parse_complete_result(&summed).unwrap(),
            CompleteResult {
                checksum_sha256: Some("Vgv4UPSgxrI0TOp0wVWBVEkzWmWBsqV4wMa5sCeXWpE=-2".into()),
                checksum_type: Some("COMPOSITE".into()),
            }
        );
    }

    #[test]
    fn parses_cors_rules_with_every_field() {
        // A rule with its fields in Garage 2.5.0's order, and one in S3's
        // (AllowedHeader, AllowedMethod, AllowedOrigin, ...).
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><ID>other-app</ID><MaxAgeSeconds>600</MaxAgeSeconds><AllowedOrigin>https://other.example</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>Content-Range</ExposeHeader></CORSRule><CORSRule><AllowedHeader>x-custom</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedOrigin>http://a:1</AllowedOrigin><AllowedOrigin>http://c:3</AllowedOrigin></CORSRule></CORSConfiguration>"#;
        assert_eq!(
            parse_cors_rules(xml).unwrap(),
            [
                CorsRule {
                    id: Some("other-app".into()),
                    allowed_origins: vec!["https://other.example".into()],
                    allowed_methods: vec!["GET".into()],
                    allowed_headers: vec![],
                    expose_headers: vec!["Content-Range".into()],
                    max_age_seconds: Some(600),
                },
                CorsRule {
                    id: None,
                    allowed_origins: vec!["http://a:1".into(), "http://c:3".into()],
                    allowed_methods: vec!["PUT".into(), "POST".into()],
                    allowed_headers: vec!["x-custom".into()],
                    expose_headers: vec![],
                    max_age_seconds: None,
                },
            ]
        );
        assert!(parse_cors_rules("<CORSConfiguration/>").unwrap().is_empty());
        assert!(parse_cors_rules("<CORSConfiguration><CORSRule><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule></CORSConfiguration>").is_err());
    }

    #[test]
    fn builds_a_cors_body_that_reads_back_the_same() {
        let rules = [
            CorsRule {
                id: Some("resupload-dev-server".into()),
                allowed_origins: vec!["http://127.0.0.1:8080".into()],
                allowed_methods: vec!["GET".into(), "PUT".into()],
                allowed_headers: vec!["*".into()],
                expose_headers: vec!["ETag".into()],
                max_age_seconds: Some(3000),
            },
            CorsRule {
                id: Some("a<&>b".into()),
                allowed_origins: vec!["https://other.example".into()],
                allowed_methods: vec!["GET".into()],
                ..CorsRule::default()
            },
        ];
        let xml = cors_body(&rules);
        assert!(xml.contains("<CORSRule><ID>resupload-dev-server</ID><AllowedOrigin>http://127.0.0.1:8080</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"), "{xml}");
        assert!(xml.contains("<ID>a&lt;&amp;&gt;b</ID>"), "{xml}");
        assert_eq!(parse_cors_rules(&xml).unwrap(), rules);
    }
}
