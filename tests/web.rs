//! In-browser tests of the adapters (headless Chromium through
//! wasm-bindgen-test-runner): the IndexedDB store, Blob slicing, and one part
//! uploaded through the dev server to the store.
//!
//! `scripts/test.sh` starts Garage and the dev server and passes the server's
//! URL at build time in `RESUPLOAD_TEST_SERVER`.

#![cfg(target_arch = "wasm32")]

use resupload::core::checksum::{composite, Sha256Digest};
use resupload::core::plan::{PartPlan, MIB};
use resupload::core::reconcile::ServerPart;
use resupload::core::record::{NewRecord, PartState, UploadRecord};
use resupload::ports::{
    Backend, CompletedPart, NewUpload, PartPut, PartSender, PartSource, RecordStore, SignedSingle,
    SingleMethod, WholeSender, SHA256,
};
use resupload::web::backend::HttpBackend;
use resupload::web::fetch_sender::FetchSender;
use resupload::web::idb::{IdbStore, DB_NAME};
use resupload::web::source::Source;
use resupload::web::xhr_sender::XhrSender;
use resupload::web::{blob, hash};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;
use web_sys::Blob;

wasm_bindgen_test_configure!(run_in_browser);

fn server() -> &'static str {
    match option_env!("RESUPLOAD_TEST_SERVER") {
        Some(url) => url,
        None => {
            panic!("build with RESUPLOAD_TEST_SERVER=http://127.0.0.1:PORT (scripts/test.sh does)")
        }
    }
}

fn record(id: &str, size: u64) -> UploadRecord {
    UploadRecord::new(
        NewRecord {
            id,
            namespace: "test",
            endpoint: "/api/s3",
            upload_id: "upload-1",
            key: "uploads/x/a b+c%.bin",
            file_name: "a b+c%.bin",
            last_modified: 1_700_000_000_123.0,
            file_type: "application/octet-stream",
            now: 1_700_000_000_000.0,
            sample_sha256: Some("abc"),
            checksum_algorithm: Some("SHA256"),
        },
        &PartPlan::with_part_size(size, 5 * MIB),
    )
}

/// What the JavaScript function body `source` returns (an object, a
/// Proxy, `undefined`), made in the page.
fn of(source: &str) -> wasm_bindgen::JsValue {
    js_sys::Function::new_no_args(source)
        .call0(&wasm_bindgen::JsValue::NULL)
        .unwrap()
}

/// A Blob of `len` bytes where byte i is `i % 251`.
fn pattern_blob(len: usize) -> Blob {
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let array = js_sys::Uint8Array::from(bytes.as_slice());
    let parts = js_sys::Array::of1(&array);
    Blob::new_with_u8_array_sequence(&parts).unwrap()
}

async fn blob_bytes(blob: &Blob) -> Vec<u8> {
    let buffer = JsFuture::from(blob.array_buffer()).await.unwrap();
    js_sys::Uint8Array::new(&buffer).to_vec()
}

#[wasm_bindgen_test]
async fn idb_store_round_trip() {
    rexie::Rexie::delete(DB_NAME).await.unwrap();
    let store = IdbStore::open().await.unwrap();
    assert!(store.load("v1-a").await.unwrap().is_none());

    let mut a = record("v1-a", 12 * MIB);
    store.save(&a).await.unwrap();
    assert_eq!(store.load("v1-a").await.unwrap(), Some(a.clone()));

    let part = a.part_mut(2).unwrap();
    part.state = PartState::Done;
    part.etag = Some("\"abc\"".into());
    store.save(&a).await.unwrap();
    store.save(&record("v1-b", 1)).await.unwrap();
    let loaded = store.load("v1-a").await.unwrap().unwrap();
    assert_eq!(loaded.parts[1].etag.as_deref(), Some("\"abc\""));
    assert_eq!(loaded.parts[1].state, PartState::Done);
    assert_eq!(
        loaded, a,
        "every field survives, u64 sizes and f64 times included"
    );

    let mut ids: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["v1-a", "v1-b"]);
    // The ids alone, read without the records.
    let mut keys = store.ids().await.unwrap();
    keys.sort();
    assert_eq!(keys, ids);

    store.remove("v1-a").await.unwrap();
    store.remove("v1-missing").await.unwrap();
    assert!(store.load("v1-a").await.unwrap().is_none());
    assert_eq!(store.list().await.unwrap().len(), 1);
    assert_eq!(store.ids().await.unwrap(), ["v1-b"]);

    // A fresh connection sees what the first one wrote.
    let again = IdbStore::open().await.unwrap();
    assert_eq!(again.list().await.unwrap()[0].id, "v1-b");
}

#[wasm_bindgen_test]
async fn idb_part_writes_go_to_the_journal_and_load_back() {
    use resupload::web::idb::JOURNAL_LIMIT;
    use std::cell::RefCell;
    rexie::Rexie::delete(DB_NAME).await.unwrap();
    let store = IdbStore::open().await.unwrap();
    // Enough parts to fill the journal past its limit.
    let parts = JOURNAL_LIMIT as u64 + 40;
    let first = record("v1-j", parts * 5 * MIB);
    store.save(&first).await.unwrap();
    let cell = RefCell::new(first);
    for n in 1..=parts as u32 {
        {
            let mut r = cell.borrow_mut();
            let part = r.part_mut(n).unwrap();
            part.state = PartState::Done;
            part.etag = Some(format!("\"e{n}\""));
            part.checksum = Some(format!("c{n}"));
        }
        store.save_parts(&cell, &[n]).await.unwrap();
        if n == 3 || n == parts as u32 {
            // Another connection (a reloaded page) sees every part so far.
            let fresh = IdbStore::open().await.unwrap();
            let expected = cell.borrow().clone();
            assert_eq!(
                fresh.load("v1-j").await.unwrap(),
                Some(expected.clone()),
                "after part {n}"
            );
            assert_eq!(
                fresh.list().await.unwrap()[0],
                expected,
                "listed after part {n}"
            );
        }
    }
    store.remove("v1-j").await.unwrap();
    assert!(
        IdbStore::open()
            .await
            .unwrap()
            .load("v1-j")
            .await
            .unwrap()
            .is_none(),
        "the journal goes with the record"
    );
}

#[wasm_bindgen_test]
async fn a_record_in_the_first_layout_still_loads() {
    let mut expected = record("v1-old", 7 * MIB);
    expected.parts[0].state = PartState::Done;
    expected.parts[0].etag = Some("\"e1\"".into());
    let value = js_sys::JSON::parse(
        r#"{"schema":1,"id":"v1-old","namespace":"test","endpoint":"/api/s3","uploadId":"upload-1",
            "key":"uploads/x/a b+c%.bin","fileName":"a b+c%.bin","fileSize":7340032,
            "lastModified":1700000000123,"fileType":"application/octet-stream","partSize":5242880,
            "sampleSha256":"abc","checksumAlgorithm":"SHA256","createdAt":1700000000000,
            "updatedAt":1700000000000,"parts":[
              {"number":1,"size":5242880,"state":"done","etag":"\"e1\""},
              {"number":2,"size":2097152,"state":"pending","etag":null}]}"#,
    )
    .unwrap();
    store_in_first_layout(&[value]).await;
    let store = IdbStore::open().await.unwrap();
    assert_eq!(store.load("v1-old").await.unwrap(), Some(expected));
}

/// A new database of version 1 (one store, records with a `parts`
/// array) holding `values`.
async fn store_in_first_layout(values: &[wasm_bindgen::JsValue]) {
    use rexie::{ObjectStore, Rexie, TransactionMode};
    Rexie::delete(DB_NAME).await.unwrap();
    let old = Rexie::builder(DB_NAME)
        .version(1)
        .add_object_store(ObjectStore::new("uploads").key_path("id"))
        .build()
        .await
        .unwrap();
    let tx = old
        .transaction(&["uploads"], TransactionMode::ReadWrite)
        .unwrap();
    for value in values {
        tx.store("uploads").unwrap().put(value, None).await.unwrap();
    }
    tx.done().await.unwrap();
    old.close();
}

#[wasm_bindgen_test]
async fn a_stored_value_of_another_shape_is_no_record() {
    let good = r#"{"schema":1,"id":"ID","namespace":"test","endpoint":"/api/s3",
        "uploadId":"upload-1","key":"k","fileName":"a.bin","fileSize":7340032,
        "lastModified":1,"fileType":"","partSize":5242880,"sampleSha256":null,
        "createdAt":1,"updatedAt":1,"parts":[
          {"number":1,"size":5242880,"state":"done","etag":"\"e1\""},
          {"number":2,"size":2097152,"state":"pending","etag":null}]}"#;
    let shapes = [
        ("good", good.to_owned()),
        ("no-key", good.replace(r#""key":"k","#, "")),
        (
            "number-id",
            good.replace(r#""uploadId":"upload-1""#, r#""uploadId":5"#),
        ),
        (
            "bad-state",
            good.replace(r#""state":"pending""#, r#""state":"sent""#),
        ),
        ("bad-etag", good.replace(r#""etag":null"#, r#""etag":7"#)),
    ];
    let values: Vec<_> = shapes
        .iter()
        .map(|(id, json)| js_sys::JSON::parse(&json.replace("ID", id)).unwrap())
        .collect();
    store_in_first_layout(&values).await;
    let store = IdbStore::open().await.unwrap();
    assert!(store.load("good").await.unwrap().is_some());
    for (id, _) in &shapes[1..] {
        assert_eq!(store.load(id).await.unwrap(), None, "{id}");
    }
}

/// The answer of an IndexedDB request (its `result`), or its error.
async fn answer(
    request: &web_sys::IdbRequest,
) -> Result<wasm_bindgen::JsValue, wasm_bindgen::JsValue> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(resolve.unchecked_ref()));
        request.set_onerror(Some(reject.unchecked_ref()));
    });
    JsFuture::from(promise).await?;
    request.result()
}

fn indexed_db() -> web_sys::IdbFactory {
    js_sys::Reflect::get(&js_sys::global(), &"indexedDB".into())
        .unwrap()
        .unchecked_into()
}

#[wasm_bindgen_test]
async fn an_open_given_up_before_its_answer_still_creates_the_stores_and_closes() {
    rexie::Rexie::delete(DB_NAME).await.unwrap();
    // A pause drops a run while its first open of the database is in flight.
    let mut open = Box::pin(IdbStore::open());
    assert!(
        futures::poll!(&mut open).is_pending(),
        "the open is in flight"
    );
    drop(open);
    // Opens are answered in order: this one after the given-up one.
    let db: web_sys::IdbDatabase = answer(&indexed_db().open(DB_NAME).unwrap())
        .await
        .unwrap()
        .unchecked_into();
    let (version, names) = (db.version(), db.object_store_names());
    db.close();
    assert_eq!(version, 4.0, "the given-up open upgraded the database");
    for store in ["uploads", "parts", "handles", "done", "batches"] {
        assert!(names.contains(store), "object store {store}");
    }
    // No connection is left open by the given-up open: a deletion is not
    // blocked.
    let delete = indexed_db().delete_database(DB_NAME).unwrap();
    let blocked = std::rc::Rc::new(std::cell::Cell::new(false));
    let on_blocked = wasm_bindgen::closure::Closure::<dyn FnMut()>::new({
        let blocked = blocked.clone();
        move || blocked.set(true)
    });
    delete.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
    answer(&delete).await.unwrap();
    assert!(!blocked.get(), "a connection was left open");
}

#[wasm_bindgen_test]
async fn blob_slices_are_the_planned_bytes() {
    let len = 2 * 1024 * 1024 + 77;
    let file = pattern_blob(len);
    assert_eq!(blob::size(&file), len as u64);
    let plan = PartPlan::with_part_size(len as u64, 1024 * 1024);
    assert_eq!(plan.count(), 3);
    let mut joined = Vec::new();
    for n in plan.numbers() {
        let slice = blob::slice(&file, plan.range(n)).unwrap();
        assert_eq!(blob::size(&slice), plan.size_of(n));
        joined.extend(blob_bytes(&slice).await);
    }
    assert_eq!(joined, blob_bytes(&file).await);
    let empty = blob::slice(&file, 5..5).unwrap();
    assert_eq!(blob::size(&empty), 0);
    assert!(
        blob::slice(&file, 0..(1 << 60)).is_err(),
        "offsets past 2^53 are refused"
    );
}

/// A new upload through the dev server.
fn new_upload<'a>(name: &'a str, checksum_algorithm: Option<&'a str>) -> NewUpload<'a> {
    NewUpload {
        namespace: "web-tests",
        file_name: name,
        file_type: "application/octet-stream",
        metadata: &[],
        checksum_algorithm,
        size: 5 * MIB + 3,
        sample_sha256: None,
        part_size: 5 * MIB,
        relative_path: None,
        adopt: false,
    }
}

/// The dev server remembers an upload created with its content identity,
/// and a create that asks to `adopt` is answered that upload, by that
/// identity and owner only (a browser's fetch, through the library's
/// backend adapter).
#[wasm_bindgen_test]
async fn the_dev_server_offers_an_upload_by_its_content_identity() {
    let backend = HttpBackend::new(&format!("{}/api/s3", server()));
    let now = js_sys::Date::now().to_bits();
    let sample = format!("{now:064x}");
    let name = format!("adopt {now}.bin");
    let mut upload = new_upload(&name, Some(SHA256));
    upload.sample_sha256 = Some(&sample);
    let created = backend.create(upload).await.unwrap();
    assert_eq!(created.adopted, None, "a fresh upload");
    let adopt = NewUpload {
        adopt: true,
        ..upload
    };
    let found = backend.create(adopt).await.unwrap();
    assert_eq!(found.upload_id, created.upload_id);
    assert_eq!(found.key, created.key);
    assert_eq!(found.checksum_algorithm.as_deref(), Some(SHA256));
    let adopted = found.adopted.expect("adopted");
    assert_eq!(adopted.part_size, Some(5 * MIB));
    assert!(adopted.created_at.is_some_and(|ms| ms > 1.7e12));
    for other in [
        NewUpload {
            size: 5 * MIB + 4,
            ..adopt
        },
        NewUpload {
            namespace: "someone-else",
            ..adopt
        },
    ] {
        let fresh = backend.create(other).await.unwrap();
        assert_eq!(fresh.adopted, None);
        assert_ne!(fresh.upload_id, created.upload_id);
        backend.abort(&fresh.upload_id, &fresh.key).await.unwrap();
    }
    backend
        .abort(&created.upload_id, &created.key)
        .await
        .unwrap();
    let fresh = backend.create(adopt).await.unwrap();
    assert_eq!(fresh.adopted, None, "an aborted upload is not offered");
    backend.abort(&fresh.upload_id, &fresh.key).await.unwrap();
}

#[wasm_bindgen_test]
async fn one_part_through_the_dev_server_to_the_store_with_xhr() {
    one_part_through(&XhrSender::new(30_000), true).await;
}

#[wasm_bindgen_test]
async fn one_part_through_the_dev_server_to_the_store_with_fetch() {
    one_part_through(&FetchSender::new(30_000), false).await;
}

/// One checksummed part sent by `sender` (which does or does not report
/// progress) through the dev server to the store, completed, and checked.
async fn one_part_through(sender: &impl PartSender<Blob>, reports_progress: bool) {
    let backend = HttpBackend::new(&format!("{}/api/s3", server()));
    let created = backend
        .create(new_upload("web test.bin", Some(SHA256)))
        .await
        .unwrap();
    assert_eq!(created.checksum_algorithm.as_deref(), Some(SHA256));
    let size = 5 * 1024 * 1024 + 3;
    let file = pattern_blob(size);
    let source = Source::File(file.clone());
    let body = source.body(0..size as u64).await.unwrap();
    let checksum = source.sha256(&body).await.unwrap().to_base64();
    let url = backend
        .sign_part(&created.upload_id, &created.key, 1, Some(&checksum))
        .await
        .unwrap();
    let seen = std::cell::Cell::new(0u64);
    let put = PartPut {
        upload_id: &created.upload_id,
        part_number: 1,
        url: &url,
        body: &body,
        checksum_sha256: Some(&checksum),
    };
    let etag = sender
        .send(&put, &|sent| seen.set(seen.get().max(sent)))
        .await
        .unwrap();
    assert!(
        etag.starts_with('"'),
        "the ETag comes as the store sent it: {etag}"
    );
    let expected_progress = if reports_progress { size as u64 } else { 0 };
    assert_eq!(
        seen.get(),
        expected_progress,
        "upload progress as the sender reports it"
    );

    let listed = backend
        .list_parts(&created.upload_id, &created.key)
        .await
        .unwrap();
    assert_eq!(
        listed,
        [ServerPart {
            part_number: 1,
            size: size as u64,
            etag: etag.clone(),
            checksum_sha256: Some(checksum.clone()),
        }]
    );
    let answer = backend
        .complete(
            &created.upload_id,
            &created.key,
            &[CompletedPart {
                part_number: 1,
                etag,
                checksum_sha256: Some(checksum.clone()),
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        answer.checksum_sha256,
        Some(composite(&[Sha256Digest::from_base64(&checksum).unwrap()])),
        "the store's composite checksum"
    );

    // The stored object is the file, byte for byte.
    let url = format!(
        "{}/api/debug/object?key={}",
        server(),
        String::from(js_sys::encode_uri_component(&created.key))
    );
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
        .await
        .unwrap()
        .unchecked_into();
    assert!(response.ok());
    let json = JsFuture::from(response.json().unwrap()).await.unwrap();
    let sha = js_sys::Reflect::get(&json, &"sha256".into())
        .unwrap()
        .as_string()
        .unwrap();
    let digest = webcrypto_sha256(&blob_bytes(&file).await).await;
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha, hex);

    // The upload is gone now: the backend says so with the typed error.
    let gone = backend
        .list_parts(&created.upload_id, &created.key)
        .await
        .unwrap_err();
    assert_eq!(gone.code(), "NO_SUCH_UPLOAD");
}

#[wasm_bindgen_test]
async fn a_tampered_url_is_refused_by_the_store() {
    let backend = HttpBackend::new(&format!("{}/api/s3", server()));
    let created = backend
        .create(new_upload("tamper.bin", None))
        .await
        .unwrap();
    let url = backend
        .sign_part(&created.upload_id, &created.key, 1, None)
        .await
        .unwrap();
    let tampered = url.replace("partNumber=1", "partNumber=2");
    let body = pattern_blob(10);
    let put = PartPut {
        upload_id: &created.upload_id,
        part_number: 2,
        url: &tampered,
        body: &body,
        checksum_sha256: None,
    };
    let by_xhr = XhrSender::new(30_000)
        .send(&put, &|_| {})
        .await
        .unwrap_err();
    let by_fetch = FetchSender::new(30_000)
        .send(&put, &|_| {})
        .await
        .unwrap_err();
    for err in [by_xhr, by_fetch] {
        assert_eq!(err.status(), Some(403), "{err}");
    }
    backend
        .abort(&created.upload_id, &created.key)
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn a_whole_file_request_teaches_the_progress_watch_as_a_part_does() {
    // The test page's own server answers this PUT at once (200, its
    // page): a fast request, so the next one goes unwatched, as after a
    // fast part (and a slow one turns watching back on).
    let sender = XhrSender::new(30_000);
    assert!(sender.watching_for(10), "the first requests are watched");
    let signed = SignedSingle {
        method: SingleMethod::Put,
        url: "/".into(),
        headers: Vec::new(),
        fields: Vec::new(),
        key: "probe".into(),
        checksum_signed: false,
        expires_secs: None,
    };
    let sent = sender.send_whole(&signed, &pattern_blob(10), &|_| {}).await;
    assert_eq!(sent, Ok(()));
    assert!(
        !sender.watching_for(10),
        "a fast whole-file request was noted"
    );
}

#[wasm_bindgen_test]
async fn chunked_hashing_matches_webcrypto_across_chunks() {
    // Sizes around the chunk boundary (4 MiB reads), and an empty blob.
    let chunk = 4 << 20;
    for size in [0, 1, chunk - 1, chunk, chunk + 1, 5 * chunk + 7] {
        let file = pattern_blob(size);
        let bytes = blob_bytes(&file).await;
        let expected = webcrypto_sha256(&bytes).await;
        for yielding in [false, true] {
            let digest = hash::sha256_chunked(&file, yielding).await.unwrap();
            assert_eq!(digest.0.to_vec(), expected, "size {size}");
        }
        assert_eq!(hash::sha256(&file).await.unwrap().0.to_vec(), expected);
    }
}

/// The SHA-256 of `bytes` by the browser's WebCrypto.
async fn webcrypto_sha256(bytes: &[u8]) -> Vec<u8> {
    let subtle = web_sys::window().unwrap().crypto().unwrap().subtle();
    let digest = subtle
        .digest_with_str_and_buffer_source("SHA-256", &js_sys::Uint8Array::from(bytes))
        .unwrap();
    js_sys::Uint8Array::new(&JsFuture::from(digest).await.unwrap()).to_vec()
}

/// The `headers` option: an object of strings or a function; a function
/// that throws, rejects or gives no object of strings is `HEADERS_FAILED`,
/// and it hears whether it is asked after a 401, and which backend asks.
#[wasm_bindgen_test]
async fn a_headers_function_is_asked_with_refresh_and_its_failures_are_typed() {
    use resupload::error::ErrorKind;
    use resupload::web::headers::BackendHeaders;
    let function = |body: &str| -> wasm_bindgen::JsValue {
        js_sys::Function::new_with_args("context", body).into()
    };
    let echo = "return { refresh: String(context.refresh), endpoint: context.endpoint }";
    let echo = BackendHeaders::parse(&function(echo)).unwrap();
    assert!(echo.refreshes());
    for (refresh, endpoint) in [(false, "/api/s3"), (true, "https://b.example/s3")] {
        let given = echo.current(refresh, endpoint).await.unwrap();
        let seen = |name: &str| {
            given
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(seen("refresh"), Some(refresh.to_string()));
        assert_eq!(seen("endpoint").as_deref(), Some(endpoint));
    }
    for body in [
        "throw new Error('signed out')",
        "return Promise.reject(new Error('no token'))",
        "return { authorization: 42 }",
        "return 'Bearer x'",
        // A function that forgot its `return`, or a token getter signed out.
        "context.refresh",
        "return null",
        "return Promise.resolve(undefined)",
        // A getter that throws is the function's failure, not a trap.
        "return { get authorization() { throw new Error('signed out') } }",
        "return new Proxy({}, { ownKeys() { throw new Error('revoked') } })",
    ] {
        let headers = BackendHeaders::parse(&function(body)).unwrap();
        let failed = headers.current(false, "/api/s3").await;
        assert!(
            matches!(
                failed.as_ref().map_err(|e| e.kind()),
                Err(ErrorKind::HeadersFailed { .. })
            ),
            "{body}: {failed:?}"
        );
    }
    let numbers = js_sys::JSON::parse(r#"{"authorization": 1}"#).unwrap();
    assert_eq!(
        BackendHeaders::parse(&numbers).unwrap_err().code(),
        "INVALID_OPTION"
    );
    let fixed = js_sys::JSON::parse(r#"{"authorization": "Bearer t"}"#).unwrap();
    let fixed = BackendHeaders::parse(&fixed).unwrap();
    assert!(!fixed.refreshes(), "an object cannot give new credentials");
    assert_eq!(
        fixed.current(true, "/api/s3").await.unwrap(),
        [("authorization".to_owned(), "Bearer t".to_owned())]
    );
    // The backend's calls are JSON: a page's `Content-Type` or `Accept`
    // would be joined to the library's own by `fetch`, so it is left out.
    let json = r#"{"Content-Type": "application/json", "ACCEPT": "*/*", "x-a": "b"}"#;
    let with_json = BackendHeaders::parse(&js_sys::JSON::parse(json).unwrap()).unwrap();
    assert_eq!(
        with_json.current(false, "/api/s3").await.unwrap(),
        [("x-a".to_owned(), "b".to_owned())]
    );
    // An object is read at each request: a getter that throws later fails
    // that run (HEADERS_FAILED), one that throws at once is a bad option.
    let signs_out = of(
        "let reads = 0; return { get authorization() { if (reads++) throw new Error('signed out'); return 'Bearer t' } }",
    );
    let signs_out = BackendHeaders::parse(&signs_out).unwrap();
    let failed = signs_out.current(false, "/api/s3").await;
    assert!(
        matches!(
            failed.as_ref().map_err(|e| e.kind()),
            Err(ErrorKind::HeadersFailed { .. })
        ),
        "{failed:?}"
    );
    let throws = of("return { get authorization() { throw new Error('no') } }");
    assert_eq!(
        BackendHeaders::parse(&throws).unwrap_err().code(),
        "INVALID_OPTION"
    );
}

#[wasm_bindgen_test]
fn the_clock_keeps_to_the_wall_clock_when_performance_falls_behind() {
    use resupload::ports::Timer;
    use resupload::web::timer::BrowserTimer;
    // A device that slept 36 hours with the page open: `performance.now()`
    // stood still meanwhile, so its clock is 36 hours behind `Date.now()`.
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).unwrap();
    let asleep = js_sys::Function::new_no_args(
        "return Date.now() - performance.timeOrigin - 36 * 3600 * 1000",
    );
    js_sys::Reflect::set(&performance, &"now".into(), &asleep).unwrap();
    let lag = js_sys::Date::now() - BrowserTimer.now_ms();
    js_sys::Reflect::delete_property(performance.unchecked_ref::<js_sys::Object>(), &"now".into())
        .unwrap();
    assert!(
        lag.abs() < 1_000.0,
        "the clock is {lag} ms behind Date.now()"
    );
    let lag = js_sys::Date::now() - BrowserTimer.now_ms();
    assert!(lag.abs() < 1_000.0, "{lag} ms with performance restored");
}

/// What a record kept (a handle, a staged copy) is an orphan only if its
/// record is still missing when read again: one made after the ids were
/// read (a run of another tab that started, made its record and stopped
/// meanwhile) keeps it. Before, the ids read first decided, and it was
/// deleted.
#[wasm_bindgen_test]
async fn orphans_are_told_by_the_record_read_again_not_by_the_ids_read_before() {
    use resupload::web::{handles, staging};
    let store = IdbStore::open().await.unwrap();
    let (gone, made) = ("orphans-gone", "orphans-made-since");
    handles::keep_staged(&store, gone).await.unwrap();
    handles::keep_staged(&store, made).await.unwrap();
    // Read before the record was made.
    let known: Vec<String> = Vec::new();
    store.save(&record(made, MIB)).await.unwrap();
    let kept = staging::collect_orphans(&store, &known).await;
    assert!(kept.iter().any(|k| k == made), "{kept:?}");
    assert!(!kept.iter().any(|k| k == gone), "{kept:?}");
    assert!(store.get_handle(gone).await.unwrap().is_none());
    assert!(store.get_handle(made).await.unwrap().is_some());
    store.remove(made).await.unwrap();
    store.delete_handle(made).await.unwrap();
}

/// An option whose getter (or the options' Proxy) throws is that option's
/// `INVALID_OPTION`, saying what it threw: before, it read as absent, and
/// the upload ran with the default.
#[wasm_bindgen_test]
fn an_option_that_throws_when_read_is_an_invalid_option() {
    use resupload::error::ErrorKind;
    use resupload::web::options::{parse, parse_lookup};
    for (source, option) in [
        (
            "return { endpoint: '/api/s3', get partSize() { throw new Error('boom') } }",
            "partSize",
        ),
        (
            "return { get endpoint() { throw new Error('boom') } }",
            "endpoint",
        ),
        (
            "return { endpoint: '/api/s3', get onProgress() { throw new Error('boom') } }",
            "onProgress",
        ),
        (
            "return new Proxy({ endpoint: '/api/s3' }, { get(t, k) { if (k === 'headers') throw new Error('boom'); return t[k] } })",
            "headers",
        ),
    ] {
        let error = parse(&of(source)).unwrap_err();
        assert_eq!(error.code(), "INVALID_OPTION", "{source}");
        assert!(
            matches!(error.kind(), ErrorKind::InvalidOption { option: o, reason } if *o == option && reason.contains("boom")),
            "{source}: {error:?}"
        );
    }
    let lookup = parse_lookup(&of(
        "return { get namespace() { throw new Error('boom') } }",
    ));
    assert_eq!(lookup.unwrap_err().code(), "INVALID_OPTION");
    // resumePending puts the entry's endpoint where the options give none:
    // a Proxy whose endpoint throws gets no default in its place.
    let proxy = of(
        "return new Proxy({}, { get(t, k) { if (k === 'endpoint') throw new Error('boom'); return t[k] } })",
    );
    let merged = resupload::web::js::with_defaults(&proxy, &[("endpoint", "/api/s3")]);
    assert!(
        matches!(
            parse(&merged).map_err(|e| e.into_kind()),
            Err(ErrorKind::InvalidOption {
                option: "endpoint",
                ..
            })
        ),
        "the throw is told, not replaced by the default"
    );
}

/// A lookup's `namespace` given as `undefined` or `null` (a user not signed
/// in yet) is the default namespace, as `new Upload` reads it: only an
/// object without the property looks at every namespace.
#[wasm_bindgen_test]
fn a_lookup_s_namespace_left_undefined_is_the_default_one_not_every_one() {
    use resupload::web::options::parse_lookup;
    let namespace = |source: &str| parse_lookup(&of(source)).unwrap().namespace;
    assert_eq!(namespace("return undefined"), None);
    assert_eq!(namespace("return {}"), None);
    assert_eq!(namespace("return { endpoint: '/api/s3' }"), None);
    assert_eq!(
        namespace("return { namespace: undefined }"),
        Some(String::new())
    );
    assert_eq!(namespace("return { namespace: null }"), Some(String::new()));
    assert_eq!(
        namespace("return { namespace: 'user-42' }").as_deref(),
        Some("user-42")
    );
}

/// A page's requests to one store host go 6 at a time (the browser's
/// connections to it): the 7th waits for one to end, and another host's
/// does not wait.
#[wasm_bindgen_test]
async fn requests_to_one_host_take_one_of_its_six_slots() {
    use futures::future::{select, Either};
    use resupload::web::host_slots::{slot_for, PER_HOST};
    let (store, elsewhere) = (
        "http://store.test:9000/bucket/key?X-Amz-Signature=1",
        "http://other.test:9000/bucket/key",
    );
    let mut held = Vec::new();
    for _ in 0..PER_HOST {
        held.push(slot_for(store).await);
    }
    let soon = || gloo_timers::future::TimeoutFuture::new(50);
    let other = slot_for(elsewhere);
    assert!(
        matches!(select(Box::pin(other), soon()).await, Either::Left(_)),
        "another host's goes"
    );
    let seventh = Box::pin(slot_for(store));
    let seventh = match select(seventh, soon()).await {
        Either::Left(_) => panic!("the 7th went beside 6"),
        Either::Right((_, seventh)) => seventh,
    };
    held.pop();
    assert!(
        matches!(select(seventh, soon()).await, Either::Left(_)),
        "it goes once one ends"
    );
}
