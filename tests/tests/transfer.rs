//! Data out (and later in): exports on both backends, as each caller may read the table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    exports_hold_exactly_what_the_caller_may_read,
    exports_stream_every_page_in_order_and_refuse_bad_requests,
    previews_detect_the_format_infer_types_and_map_columns,
    previews_refuse_what_passes_a_limit,
    imports_write_every_valid_row_or_nothing,
    an_export_imports_back_to_the_same_values,
    a_file_becomes_a_new_table_with_inferred_types,
    an_upsert_updates_the_records_it_matches_and_creates_the_rest,
);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn project(c: &Client, name: &str) -> String {
    let r = c.post("/api/v1/projects", json!({"name": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
    id(&r.body)
}

async fn table(c: &Client, project: &str, name: &str, fields: Value) -> String {
    let r = c
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": name, "fields": fields}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    id(&r.body)
}

async fn create(c: &Client, table: &str, fields: Value) -> String {
    let r = c
        .post(
            &format!("/api/v1/tables/{table}/records"),
            json!({"fields": fields}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    id(&r.body)
}

async fn me(c: &Client) -> String {
    id(&c.get("/api/v1/me").await.body)
}

/// The rows of a CSV or TSV text, header first.
fn rows(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn exports_hold_exactly_what_the_caller_may_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    let p = project(&owner, "CRM").await;
    let people = table(
        &owner,
        &p,
        "People",
        json!([{"name": "age", "type": "integer"}, {"name": "name", "type": "text"}]),
    )
    .await;
    let ada = create(&owner, &people, json!({"name": "Ada", "age": 36})).await;
    let bob = create(&owner, &people, json!({"name": "Bob, Jr.", "age": 7})).await;
    let deals = table(
        &owner,
        &p,
        "Deals",
        json!([
            {"name": "title", "type": "text"},
            {"name": "cmd", "type": "text"},
            {"name": "amount", "type": "decimal", "options": {"scale": 2}},
            {"name": "units", "type": "integer"},
            {"name": "won", "type": "boolean"},
            {"name": "closes", "type": "date"},
            {"name": "seen", "type": "datetime"},
            {"name": "stage", "type": "single_select", "options": {"choices": ["new", "won"]}},
            {"name": "tags", "type": "multi_select", "options": {"choices": ["a", "b, c"]}},
            {"name": "contact", "type": "email"},
            {"name": "site", "type": "url"},
            {"name": "meta", "type": "json"},
            {"name": "people", "type": "link", "options": {"table_id": people, "multiple": true}},
            {"name": "lead", "type": "link", "options": {"table_id": people}},
            {"name": "rep", "type": "user"},
            {"name": "team", "type": "text"},
            {"name": "secret", "type": "text"},
        ]),
    )
    .await;
    let owner_id = me(&owner).await;
    create(
        &owner,
        &deals,
        json!({
            "title": "=HYPERLINK(\"http://evil.test\",\"x\")", "cmd": "+31 20", "amount": "-12.50",
            "units": -3, "won": true, "closes": "2026-12-24", "seen": "2026-12-01T10:20:30.123456Z",
            "stage": "won", "tags": ["b, c", "a"], "contact": "c@d.test", "site": "https://d.test/x",
            "meta": {"k": [1, 2]}, "people": [ada, bob], "lead": bob, "rep": owner_id,
            "team": "a", "secret": "s1",
        }),
    )
    .await;
    create(
        &owner,
        &deals,
        json!({"title": "plain", "team": "b", "secret": "s2"}),
    )
    .await;

    // The owner's CSV: every field, formulas guarded, links by name, users
    // by email, several values in one cell.
    let path = format!("/api/v1/tables/{deals}/export");
    let r = owner.get(&format!("{path}?sort=title")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("Deals.csv")
    );
    assert_eq!(r.headers["x-rampart-records"], "2");
    let all = rows(&r.text, b',');
    assert_eq!(
        all[0],
        [
            "title", "cmd", "amount", "units", "won", "closes", "seen", "stage", "tags", "contact",
            "site", "meta", "people", "lead", "rep", "team", "secret"
        ]
    );
    assert_eq!(all.len(), 3, "{all:?}");
    let first = &all[1];
    assert_eq!(first[0], "'=HYPERLINK(\"http://evil.test\",\"x\")");
    assert_eq!(first[1], "'+31 20");
    assert_eq!(first[2], "-12.50", "numbers are numbers, not formulas");
    assert_eq!(first[3], "-3");
    assert_eq!(first[4], "true");
    assert_eq!(first[5], "2026-12-24");
    assert_eq!(first[6], "2026-12-01T10:20:30.123456Z");
    assert_eq!(first[7], "won");
    assert_eq!(first[8], "\"b, c\", a");
    assert_eq!(first[11], r#"{"k":[1,2]}"#);
    assert_eq!(first[12], "Ada, \"Bob, Jr.\"");
    assert_eq!(first[13], "Bob, Jr.");
    assert_eq!(first[14], "owner@acme.test");
    assert_eq!(first[16], "s1");
    assert_eq!(all[2][0], "plain");
    assert_eq!(all[2][12], "", "no links");

    // Ids on request.
    let r = owner.get(&format!("{path}?sort=title&links=ids")).await;
    assert_eq!(rows(&r.text, b',')[1][13], bob);

    // Alice reads team a's deals without the secret, and cannot read People: links show ids.
    let set = owner
        .post(
            &format!("/api/v1/projects/{p}/permission-sets"),
            json!({"name": "Sales", "tables": {deals.clone(): {
                "read": true, "fields": {"secret": "none"}, "rules": {"read": "team = \"a\""}
            }}}),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let r = owner
        .put(
            &format!(
                "/api/v1/permission-sets/{}/users/{}",
                id(&set.body),
                me(&alice).await
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = alice.get(&format!("{path}?format=json")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let items = r.body.as_array().unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(items.len(), 1, "{items:?}");
    let deal = &items[0];
    assert!(deal.get("secret").is_none(), "{deal}");
    assert_eq!(deal["amount"], "-12.50");
    assert_eq!(deal["units"], -3);
    assert_eq!(deal["tags"], json!(["b, c", "a"]));
    assert_eq!(
        deal["people"],
        json!([ada, bob]),
        "unreadable links are ids"
    );
    assert_eq!(deal["lead"], bob);
    assert_eq!(deal["meta"], json!({"k": [1, 2]}));
    // Asking for a field she may not read is the same answer as one that does not exist.
    let r = alice.get(&format!("{path}?fields=title,secret")).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "fields[1]");
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    let r = owner.get(&format!("{path}?fields=nope")).await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");

    // NDJSON with chosen columns, in their order, and the list's filter.
    let r = owner
        .get(&format!(
            "{path}?format=ndjson&fields=team,title&filter=team%20%3D%20%22b%22"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.text, "{\"team\":\"b\",\"title\":\"plain\"}\n");

    // TSV.
    let r = owner
        .get(&format!("{path}?format=tsv&fields=title,units"))
        .await;
    let t = rows(&r.text, b'\t');
    assert_eq!(t[0], ["title", "units"]);
    assert_eq!(t.len(), 3);

    // XLSX: a workbook whose cells are typed; text that looks like a formula is guarded.
    let r = owner
        .raw(
            reqwest::Method::GET,
            &format!("{path}?format=xlsx&sort=title"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cell = |row: u32, col: u32| sheet.get_value((row, col)).cloned();
    assert_eq!(cell(0, 1), Some(calamine::Data::String("cmd".into())));
    assert_eq!(cell(1, 1), Some(calamine::Data::String("'+31 20".into())));
    assert_eq!(
        cell(1, 0),
        Some(calamine::Data::String(
            "'=HYPERLINK(\"http://evil.test\",\"x\")".into()
        ))
    );
    assert_eq!(cell(1, 3), Some(calamine::Data::Float(-3.0)));
    assert_eq!(cell(1, 4), Some(calamine::Data::Bool(true)));
    assert!(
        matches!(cell(1, 5), Some(calamine::Data::DateTime(_))),
        "{:?}",
        cell(1, 5)
    );
    assert_eq!(cell(2, 0), Some(calamine::Data::String("plain".into())));

    // Each export is in the audit chain: who, which table, which filter, how many.
    let r = owner.get("/api/v1/audit?action=record.export").await;
    let entries = r.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(entries.len(), 6, "{r:?}");
    let filtered = entries
        .iter()
        .find(|e| e["detail"]["format"] == "ndjson")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(filtered["table_id"], deals.as_str(), "{filtered}");
    assert_eq!(filtered["detail"]["records"], 1, "{filtered}");
    assert_eq!(filtered["detail"]["filter"], "team = \"b\"", "{filtered}");
    assert_eq!(filtered["detail"]["fields"], json!(["team", "title"]));
    let alice_actor = format!("user:{}", me(&alice).await);
    let by_alice = entries
        .iter()
        .filter(|e| e["actor"] == alice_actor.as_str())
        .count();
    assert_eq!(
        by_alice, 1,
        "the refused export is not recorded: {entries:?}"
    );
    server.stop().await;
}

async fn exports_stream_every_page_in_order_and_refuse_bad_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = table(
        &owner,
        &p,
        "Numbers",
        json!([{"name": "n", "type": "integer"}, {"name": "label", "type": "text"}]),
    )
    .await;
    // Three pages and a bit, so the export's keyset paging and chunking both show.
    let total = 2_345;
    for start in (0..total).step_by(1000) {
        let creates: Vec<Value> = (start..(start + 1000).min(total))
            .map(|n| json!({"fields": {"n": n, "label": format!("row {n} {}", "x".repeat(40))}}))
            .collect();
        let r = owner
            .post(
                &format!("/api/v1/tables/{t}/records/batch"),
                json!({"create": creates}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let path = format!("/api/v1/tables/{t}/export");
    let r = owner.get(&format!("{path}?sort=-n")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let all = rows(&r.text, b',');
    assert_eq!(all.len(), total + 1);
    let ns: Vec<usize> = all[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    let expected: Vec<usize> = (0..total).rev().collect();
    assert_eq!(ns, expected);

    let r = owner
        .get(&format!("{path}?format=json&filter=n%20%3C%2010"))
        .await;
    assert_eq!(r.body.as_array().map(Vec::len), Some(10), "{r:?}");

    // Bad requests are problems naming their parameter, and leave no audit entry.
    for (query, field, code) in [
        ("format=pdf", "format", "invalid_value"),
        ("filter=n%20%3D%3D", "filter", "invalid_filter"),
        ("sort=nope", "sort", "unknown_field"),
        ("links=labels", "links", "invalid_value"),
    ] {
        let r = owner.get(&format!("{path}?{query}")).await;
        assert_eq!(r.status, 400, "{query}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{query}"
        );
        assert_eq!(r.body["errors"][0]["field"], field, "{query}: {r:?}");
        assert_eq!(r.body["errors"][0]["code"], code, "{query}: {r:?}");
    }
    let r = owner.get("/api/v1/audit?action=record.export").await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2), "{r:?}");

    // Another tenant's user, or nobody, gets nothing.
    let r = owner.anonymous().get(&path).await;
    assert_eq!(r.status, 401, "{r:?}");
    server
        .store
        .create_tenant("globex", "Globex")
        .await
        .unwrap();
    let other = server.owner("globex").await;
    let r = other.get(&path).await;
    assert_eq!(r.status, 404, "{r:?}");
    server.stop().await;
}

async fn preview(c: &Client, query: &str, body: Vec<u8>) -> rampart_tests::Resp {
    c.send(
        c.raw(
            reqwest::Method::POST,
            &format!("/api/v1/imports/preview{query}"),
        )
        .header("content-type", "application/octet-stream")
        .body(body),
    )
    .await
}

fn column<'a>(r: &'a rampart_tests::Resp, name: &str) -> &'a Value {
    r.body["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no column {name}: {r:?}"))
}

async fn previews_detect_the_format_infer_types_and_map_columns(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let csv = "\u{feff}Name;Qty;Price;Active;Due;Email;Status;Note\n\
               Ada;1;2.50;yes;2026-01-02;ada@x.test;open;\"a; b\"\n\
               Bob;20;3;no;2026-02-03;bob@x.test;done;\n\
               Cy;-3;4.125;yes;2026-03-04;cy@x.test;open;\n\
               Di;4;5;no;2026-04-05;di@x.test;open;x\n";
    let r = preview(&owner, "", csv.as_bytes().to_vec()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["format"], "csv");
    assert_eq!(r.body["delimiter"], ";");
    assert_eq!(r.body["encoding"], "UTF-8");
    assert_eq!(r.body["rows_sampled"], 4);
    assert_eq!(r.body["more_rows"], false);
    assert_eq!(r.body["rows"][0][7], "a; b");
    for (name, ty) in [
        ("Name", "text"),
        ("Qty", "integer"),
        ("Price", "decimal"),
        ("Active", "boolean"),
        ("Due", "date"),
        ("Email", "email"),
        ("Status", "single_select"),
        ("Note", "text"),
    ] {
        assert_eq!(column(&r, name)["type"], ty, "{name}: {r:?}");
    }
    assert_eq!(column(&r, "Price")["options"]["scale"], 3);
    assert_eq!(
        column(&r, "Status")["options"]["choices"],
        json!(["open", "done"])
    );
    assert_eq!(column(&r, "Note")["empty"], 2);

    // Into an existing table: columns map to the fields the caller may write, by name
    // without regard to case.
    let p = project(&owner, "P").await;
    let t = table(
        &owner,
        &p,
        "People",
        json!([{"name": "name", "type": "text"}, {"name": "QTY", "type": "integer"}]),
    )
    .await;
    let r = preview(&owner, &format!("?table_id={t}"), csv.as_bytes().to_vec()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(column(&r, "Name")["maps_to"], "name");
    assert_eq!(column(&r, "Qty")["maps_to"], "QTY");
    assert!(column(&r, "Price").get("maps_to").is_none(), "{r:?}");
    // A member without a grant on the table is not told it exists.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let r = preview(&member, &format!("?table_id={t}"), csv.as_bytes().to_vec()).await;
    assert_eq!(r.status, 404, "{r:?}");

    // A workbook: the sheet asked for, typed cells typed.
    let mut book = rust_xlsxwriter::Workbook::new();
    book.add_worksheet().write_string(0, 0, "first").unwrap();
    let sheet = book.add_worksheet().set_name("Second").unwrap();
    for (col, name) in ["n", "price", "on", "day"].iter().enumerate() {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2026, 5, 6).unwrap();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for row in 1..=3u32 {
        sheet.write_number(row, 0, f64::from(row)).unwrap();
        sheet.write_number(row, 1, f64::from(row) + 0.5).unwrap();
        sheet.write_boolean(row, 2, row % 2 == 0).unwrap();
        sheet
            .write_datetime_with_format(row, 3, &day, &date_format)
            .unwrap();
    }
    let bytes = book.save_to_buffer().unwrap();
    let r = preview(&owner, "?sheet=Second", bytes.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["format"], "xlsx");
    assert_eq!(r.body["sheets"], json!(["Sheet1", "Second"]));
    assert_eq!(r.body["sheet"], "Second");
    assert_eq!(column(&r, "n")["type"], "integer", "{r:?}");
    assert_eq!(column(&r, "price")["type"], "decimal");
    assert_eq!(column(&r, "on")["type"], "boolean");
    assert_eq!(column(&r, "day")["type"], "date", "{r:?}");
    assert_eq!(r.body["rows"][0][3], "2026-05-06");
    let r = preview(&owner, "?sheet=Third", bytes).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "sheet");
    assert_eq!(r.body["errors"][0]["code"], "unknown_sheet");

    // NDJSON and a JSON array; nested values are JSON.
    let r = preview(
        &owner,
        "",
        b"{\"a\": 1, \"b\": {\"c\": [1]}}\n{\"a\": 2}\n".to_vec(),
    )
    .await;
    assert_eq!(r.body["format"], "ndjson", "{r:?}");
    assert_eq!(column(&r, "a")["type"], "integer");
    assert_eq!(column(&r, "b")["type"], "json");
    let r = preview(
        &owner,
        "?format=json",
        b"[{\"x\": \"2026-01-01T00:00:00Z\"}]".to_vec(),
    )
    .await;
    assert_eq!(column(&r, "x")["type"], "datetime", "{r:?}");

    // A file the preview saw is not kept, and nothing was written.
    let r = owner.get("/api/v1/audit?action=record.").await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0), "{r:?}");
    server.stop().await;
}

/// A zip archive with one entry of `size` zero bytes (a few kilobytes compressed).
fn zip_bomb(size: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
        let block = vec![0u8; 1024 * 1024];
        for _ in 0..size / block.len() {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    out.into_inner()
}

async fn previews_refuse_what_passes_a_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.limits.import_bytes = 1024 * 1024;
        c.limits.import_inflated_bytes = 8 * 1024 * 1024;
        c.limits.import_columns = 3;
        c.limits.import_cell_chars = 10;
        c.limits.import_json_depth = 4;
    })
    .await;
    let owner = server.owner("acme").await;
    let bomb = zip_bomb(64 * 1024 * 1024);
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    for (body, status, code) in [
        (bomb, 400, "inflates_too_large"),
        (vec![b'a'; 2 * 1024 * 1024], 413, "file_too_large"),
        (b"a,b,c,d\n1,2,3,4\n".to_vec(), 400, "too_many_columns"),
        (b"a\nabcdefghijk\n".to_vec(), 400, "cell_too_long"),
        (b"[{\"a\": [[[[[1]]]]]}]".to_vec(), 400, "nested_too_deep"),
        (b"a,b\n1,2,3\n".to_vec(), 400, "too_many_cells"),
        (Vec::new(), 400, "empty_file"),
        (b"PK\x03\x04 not really".to_vec(), 400, "unreadable_file"),
    ] {
        let r = preview(&owner, "", body).await;
        assert_eq!(r.status, status, "{code}: {r:?}");
        assert_eq!(
            r.headers["content-type"], "application/problem+json",
            "{code}"
        );
        let found = r.body["code"] == code || r.body["errors"][0]["code"] == code;
        assert!(found, "{code}: {r:?}");
    }
    let r = preview(&owner, "?delimiter=ab", b"a\n".to_vec()).await;
    assert_eq!(r.body["errors"][0]["field"], "delimiter", "{r:?}");
    let r = preview(&owner, "?encoding=klingon", b"a\n".to_vec()).await;
    assert_eq!(r.body["errors"][0]["field"], "encoding", "{r:?}");
    server.stop().await;
}

async fn start_import(c: &Client, table: &str, query: &str, body: &str) -> rampart_tests::Resp {
    c.send(
        c.raw(
            reqwest::Method::POST,
            &format!("/api/v1/tables/{table}/imports{query}"),
        )
        .body(body.to_owned()),
    )
    .await
}

/// The job once it has ended (polled until its state is no longer `running`).
async fn finished(c: &Client, job: &rampart_tests::Resp) -> Value {
    assert_eq!(job.status, 202, "{job:?}");
    let path = format!("/api/v1/imports/{}", id(&job.body));
    for _ in 0..600 {
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{r:?}");
        if r.body["state"] != "running" {
            return r.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the import did not end");
}

async fn records_of(c: &Client, table: &str) -> Vec<Value> {
    let r = c
        .get(&format!(
            "/api/v1/tables/{table}/records?sort=name&limit=1000"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["records"].as_array().unwrap().clone()
}

async fn imports_write_every_valid_row_or_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "CRM").await;
    let companies = table(
        &owner,
        &p,
        "Companies",
        json!([{"name": "name", "type": "text"}]),
    )
    .await;
    let acme = create(&owner, &companies, json!({"name": "Acme"})).await;
    create(&owner, &companies, json!({"name": "Globex"})).await;
    let contacts = table(
        &owner,
        &p,
        "Contacts",
        json!([
            {"name": "name", "type": "text", "unique": true},
            {"name": "age", "type": "integer"},
            {"name": "email", "type": "email"},
            {"name": "tags", "type": "multi_select", "options": {"choices": ["a", "b"]}},
            {"name": "company", "type": "link", "options": {"table_id": companies}},
            {"name": "rep", "type": "user"},
            {"name": "joined", "type": "date"},
        ]),
    )
    .await;
    let csv = "Name,Age,Email,Tags,Company,Rep,Joined,Ignored\r\n\
               Ada,36,ada@x.test,\"a, b\",Acme,owner@acme.test,2026-01-02,x\r\n\
               Bob,many,bob@x.test,,Globex,,2026-01-03,\r\n\
               Cy,5,no-email,c,Nope,nobody@x.test,2026-13-01,\r\n\
               Ada,1,,,,,,\r\n\
               '=Di,7,,,,,,\r\n";

    // A dry run checks every row and writes nothing.
    let job = finished(
        &owner,
        &start_import(&owner, &contacts, "?dry_run=true", csv).await,
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["dry_run"], true);
    assert_eq!(
        (
            job["rows_read"].as_u64(),
            job["rows_written"].as_u64(),
            job["rows_rejected"].as_u64()
        ),
        (Some(5), Some(2), Some(3)),
        "{job}"
    );
    assert_eq!(
        job["columns"][7],
        json!({"column": "Ignored", "field": null})
    );
    assert!(records_of(&owner, &contacts).await.is_empty());

    // All or nothing (the default): refused rows, so nothing is written; the refused rows
    // are a file, each at its row with why, per column.
    let job = finished(&owner, &start_import(&owner, &contacts, "", csv).await).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["rows_written"], 0, "{job}");
    assert_eq!(job["rows_rejected"], 3, "{job}");
    assert!(records_of(&owner, &contacts).await.is_empty());
    let r = owner
        .get(&format!("/api/v1/imports/{}/rejects", id(&job)))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let rejected = rows(&r.text, b',');
    assert_eq!(rejected[0][0], "row");
    assert_eq!(rejected[0].last().unwrap(), "errors");
    let numbers: Vec<&str> = rejected[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(numbers, ["3", "4", "5"], "{rejected:?}");
    assert_eq!(rejected[1][1], "Bob");
    let errors = |i: usize| rejected[i].last().unwrap().clone();
    assert!(errors(1).contains("Age: invalid_type"), "{}", r.text);
    for expected in [
        "Email: ",
        "Tags: ",
        "Company: unresolved_link",
        "Rep: unknown_user",
        "Joined: ",
    ] {
        assert!(errors(2).contains(expected), "{expected}: {}", errors(2));
    }
    assert!(errors(3).contains("Name: duplicate_value"), "{}", errors(3));
    // The same rows as JSON pages, each problem at its column.
    let page = |query: &str| {
        let path = format!("/api/v1/imports/{}/rejects?format=json{query}", id(&job));
        let owner = &owner;
        async move { owner.get(&path).await }
    };
    let first = page("&limit=2").await;
    assert_eq!(first.status, 200, "{first:?}");
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{first:?}");
    assert_eq!(items[0]["row"], 3);
    assert_eq!(items[0]["cells"][0], "Bob");
    assert_eq!(items[0]["errors"][0]["column"], "Age");
    assert_eq!(items[0]["errors"][0]["code"], "invalid_type");
    assert_eq!(first.body["next_after"], 4, "{first:?}");
    let rest = page("&after=4").await;
    assert_eq!(rest.body["items"][0]["row"], 5, "{rest:?}");
    assert!(rest.body["next_after"].is_null(), "{rest:?}");
    assert_eq!(page("&limit=0").await.status, 400);

    // Valid rows: the two good rows are written, links by the target's primary value, users
    // by email, several choices in one cell, the formula guard undone.
    let job = finished(
        &owner,
        &start_import(&owner, &contacts, "?mode=valid_rows", csv).await,
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        (job["rows_written"].as_u64(), job["rows_rejected"].as_u64()),
        (Some(2), Some(3))
    );
    let written = records_of(&owner, &contacts).await;
    assert_eq!(written.len(), 2, "{written:?}");
    let ada = &written[1]["fields"];
    assert_eq!(written[0]["fields"]["name"], "=Di");
    assert_eq!(ada["name"], "Ada");
    assert_eq!(ada["age"], 36);
    assert_eq!(ada["tags"], json!(["a", "b"]));
    assert_eq!(ada["company"], acme.as_str());
    assert_eq!(ada["rep"], me(&owner).await.as_str());
    assert_eq!(ada["joined"], "2026-01-02");

    // One audit entry for the batch, naming its records; none per record.
    let r = owner.get("/api/v1/audit?action=record.import").await;
    let entries = r.body["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{r:?}");
    assert_eq!(
        entries[0]["detail"]["records"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(entries[0]["detail"]["job"], id(&job).as_str());
    let r = owner
        .get(&format!(
            "/api/v1/audit?action=record.create&table_id={contacts}"
        ))
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(0), "{r:?}");

    // A mapping names fields; an unknown one is refused before the job starts.
    let r = start_import(
        &owner,
        &contacts,
        &format!("?map={}", "%7B%22Full%22%3A%22nope%22%7D"),
        "Full\r\nEve\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{r:?}");
    let job = finished(
        &owner,
        &start_import(
            &owner,
            &contacts,
            &format!("?map={}", "%7B%22Full%22%3A%22name%22%7D"),
            "Full\r\nEve\r\n",
        )
        .await,
    )
    .await;
    assert_eq!(job["rows_written"], 1, "{job}");

    // Who may not create records cannot import; who did not start a job does not see it.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let r = start_import(&member, &contacts, "", csv).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = member.get(&format!("/api/v1/imports/{}", id(&job))).await;
    assert_eq!(r.status, 404, "{r:?}");
    let r = member
        .get(&format!("/api/v1/imports/{}/rejects", id(&job)))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    // An ended job cannot be cancelled.
    let r = owner
        .post(&format!("/api/v1/imports/{}/cancel", id(&job)), json!({}))
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    server.stop().await;
}

async fn an_export_imports_back_to_the_same_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let people = table(
        &owner,
        &p,
        "People",
        json!([{"name": "name", "type": "text"}]),
    )
    .await;
    let ada = create(&owner, &people, json!({"name": "Ada"})).await;
    let bob = create(&owner, &people, json!({"name": "Bob, Jr."})).await;
    let fields = json!([
        {"name": "name", "type": "text"},
        {"name": "notes", "type": "long_text"},
        {"name": "n", "type": "integer"},
        {"name": "price", "type": "decimal", "options": {"scale": 3}},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "datetime"},
        {"name": "stage", "type": "single_select", "options": {"choices": ["new", "won, lost"]}},
        {"name": "tags", "type": "multi_select", "options": {"choices": ["a", "b, c", "\"q\""]}},
        {"name": "mail", "type": "email"},
        {"name": "site", "type": "url"},
        {"name": "meta", "type": "json"},
        {"name": "people", "type": "link", "options": {"table_id": people, "multiple": true}},
        {"name": "rep", "type": "user"},
    ]);
    let source = table(&owner, &p, "Source", fields.clone()).await;
    let owner_id = me(&owner).await;
    let values = [
        json!({"name": "=1+1", "notes": "two\nlines, \"quoted\"", "n": -5, "price": "-0.125",
               "ok": true, "day": "2026-02-28", "at": "2026-02-28T23:59:59.999999Z",
               "stage": "won, lost", "tags": ["\"q\"", "b, c"], "mail": "a@b.test",
               "site": "https://x.test/?a=1&b=2", "meta": {"k": [1, "two", null]},
               "people": [bob, ada], "rep": owner_id}),
        json!({"name": "'quoted", "n": 0, "ok": false, "tags": [], "people": []}),
        json!({"name": "@user", "meta": "=text"}),
    ];
    for v in &values {
        create(&owner, &source, v.clone()).await;
    }
    let target = table(&owner, &p, "Target", fields).await;
    for format in ["csv", "json", "ndjson", "tsv"] {
        let exported = owner
            .get(&format!(
                "/api/v1/tables/{source}/export?format={format}&sort=name"
            ))
            .await;
        assert_eq!(exported.status, 200, "{exported:?}");
        let job = finished(
            &owner,
            &start_import(
                &owner,
                &target,
                &format!("?format={format}"),
                &exported.text,
            )
            .await,
        )
        .await;
        let rejects = owner
            .get(&format!("/api/v1/imports/{}/rejects", id(&job)))
            .await;
        assert_eq!(job["state"], "done", "{format}: {job} {}", rejects.text);
        let back = records_of(&owner, &target).await;
        let original = records_of(&owner, &source).await;
        assert_eq!(back.len(), original.len(), "{format}");
        for (b, o) in back.iter().zip(&original) {
            assert_eq!(b["fields"], o["fields"], "{format}");
        }
        // Empty the target for the next format.
        for r in &back {
            let d = owner
                .delete(&format!(
                    "/api/v1/tables/{target}/records/{}?version={}",
                    id(r),
                    r["version"]
                ))
                .await;
            assert!(d.status < 300, "{d:?}");
        }
    }
    server.stop().await;
}

async fn a_file_becomes_a_new_table_with_inferred_types(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let csv = "Name,Qty,Price,Active,Due,Code,Drop me\r\n\
               Ada,1,2.50,yes,2026-01-02,007,x\r\n\
               Bob,20,3,no,2026-02-03,010,y\r\n";
    let r = owner
        .send(
            owner
                .raw(
                    reqwest::Method::POST,
                    &format!(
                        "/api/v1/projects/{p}/imports?name=Stock&types=%7B%22Drop%20me%22%3A%22skip%22%2C%22Qty%22%3A%22decimal%22%7D"
                    ),
                )
                .body(csv),
        )
        .await;
    let job = finished(&owner, &r).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["rows_written"], 2);
    let t = job["table_id"].as_str().unwrap();
    let table = owner.get(&format!("/api/v1/tables/{t}")).await.body;
    assert_eq!(table["name"], "Stock");
    let types: Vec<(String, String)> = table["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("Name", "text"),
        ("Qty", "decimal"),
        ("Price", "decimal"),
        ("Active", "boolean"),
        ("Due", "date"),
        ("Code", "text"),
    ];
    assert_eq!(
        types,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "{table}"
    );
    let records = owner
        .get(&format!("/api/v1/tables/{t}/records?sort=Name"))
        .await;
    let first = &records.body["records"][0]["fields"];
    assert_eq!(first["Code"], "007", "{records:?}");
    assert_eq!(first["Price"], "2.50");
    assert_eq!(first["Active"], true);
    // A member who may not build tables cannot import into a new one.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let r = member
        .send(
            member
                .raw(
                    reqwest::Method::POST,
                    &format!("/api/v1/projects/{p}/imports?name=X"),
                )
                .body(csv),
        )
        .await;
    assert_eq!(r.status, 404, "{r:?}");
    server.stop().await;
}

async fn grant_set(owner: &Client, project: &str, name: &str, tables: Value, user: &Client) {
    let set = owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": name, "tables": tables}),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let r = owner
        .put(
            &format!(
                "/api/v1/permission-sets/{}/users/{}",
                id(&set.body),
                me(user).await
            ),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

async fn an_upsert_updates_the_records_it_matches_and_creates_the_rest(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "Stock").await;
    let items = table(
        &owner,
        &p,
        "Items",
        json!([
            {"name": "code", "type": "text", "unique": true},
            {"name": "name", "type": "text"},
            {"name": "qty", "type": "integer"},
            {"name": "team", "type": "text"},
        ]),
    )
    .await;
    let a1 = create(
        &owner,
        &items,
        json!({"code": "A1", "name": "a", "qty": 1, "team": "a"}),
    )
    .await;
    let b2 = create(
        &owner,
        &items,
        json!({"code": "B2", "name": "b", "qty": 2, "team": "b"}),
    )
    .await;
    let by_code = |records: &[Value], code: &str| {
        records
            .iter()
            .find(|r| r["fields"]["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code} in {records:?}"))
    };

    // The key must be a unique field the file maps; refused before a job starts.
    for (query, code) in [
        ("?upsert=name", "not_unique"),
        ("?upsert=nope", "unknown_field"),
        ("?upsert=code&map=%7B%22code%22%3Anull%7D", "key_not_mapped"),
    ] {
        let r = start_import(&owner, &items, query, "code,name\r\nA1,x\r\n").await;
        assert_eq!(r.status, 400, "{query}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], "upsert", "{r:?}");
        assert_eq!(r.body["errors"][0]["code"], code, "{r:?}");
    }

    // Matches update (in file order: a repeated key updates what its earlier row wrote), the
    // rest are created, a bad row is refused with its column.
    let csv = "code,name,qty\r\n\
               A1,Alpha,10\r\n\
               C3,Gamma,5\r\n\
               C3,Gamma 2,6\r\n\
               B2,,many\r\n\
               ,No key,1\r\n";
    let job = finished(
        &owner,
        &start_import(&owner, &items, "?upsert=code&mode=valid_rows", csv).await,
    )
    .await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(
        (
            job["rows_written"].as_u64(),
            job["rows_updated"].as_u64(),
            job["rows_rejected"].as_u64()
        ),
        (Some(4), Some(2), Some(1)),
        "{job}"
    );
    assert_eq!(job["columns"][0]["key"], true, "{job}");
    let all = records_of(&owner, &items).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let alpha = by_code(&all, "A1");
    assert_eq!(alpha["id"], a1.as_str());
    assert_eq!(
        (
            &alpha["fields"]["name"],
            &alpha["fields"]["qty"],
            &alpha["fields"]["team"]
        ),
        (&json!("Alpha"), &json!(10), &json!("a")),
        "unmapped fields are kept"
    );
    assert_eq!(alpha["version"], 2, "{alpha}");
    let gamma = by_code(&all, "C3");
    assert_eq!(gamma["fields"]["name"], "Gamma 2");
    assert_eq!(
        by_code(&all, "B2")["fields"]["qty"],
        2,
        "the refused row changed nothing"
    );
    let r = owner
        .get(&format!("/api/v1/imports/{}/rejects", id(&job)))
        .await;
    let rejected = rows(&r.text, b',');
    assert_eq!(rejected[1][0], "5", "{rejected:?}");
    assert!(
        rejected[1].last().unwrap().contains("qty: invalid_type"),
        "{rejected:?}"
    );
    // Each update is audited as an update of its record.
    let r = owner
        .get(&format!(
            "/api/v1/audit?action=record.update&table_id={items}"
        ))
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2), "{r:?}");

    // All or nothing rolls the updates back with the rest.
    let job = finished(
        &owner,
        &start_import(
            &owner,
            &items,
            "?upsert=code",
            "code,qty\r\nA1,11\r\nB2,x\r\n",
        )
        .await,
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(
        (job["rows_written"].as_u64(), job["rows_updated"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        by_code(&records_of(&owner, &items).await, "A1")["fields"]["qty"],
        10
    );

    // Alice reads, creates and updates team a's items only: her upsert cannot reach team b's
    // record, so its key is a duplicate to her, not a way to overwrite it.
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    grant_set(
        &owner,
        &p,
        "Team a",
        json!({items.clone(): {"read": true, "create": true, "update": true,
            "rules": {"read": "team = \"a\"", "update": "team = \"a\""}}}),
        &alice,
    )
    .await;
    let job = finished(
        &alice,
        &start_import(
            &alice,
            &items,
            "?upsert=code&mode=valid_rows",
            "code,name,team\r\nA1,by alice,a\r\nB2,by alice,a\r\n",
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            job["rows_written"].as_u64(),
            job["rows_updated"].as_u64(),
            job["rows_rejected"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{job}"
    );
    let all = records_of(&owner, &items).await;
    assert_eq!(by_code(&all, "A1")["fields"]["name"], "by alice");
    let b = by_code(&all, "B2");
    assert_eq!(
        (b["id"].as_str(), &b["fields"]["name"]),
        (Some(b2.as_str()), &json!("b"))
    );
    let r = alice
        .get(&format!("/api/v1/imports/{}/rejects", id(&job)))
        .await;
    assert!(r.text.contains("code: duplicate_value"), "{}", r.text);

    // Who may create but not update cannot upsert.
    let bob = server.user(&owner, "acme", "bob@acme.test", "member").await;
    grant_set(
        &owner,
        &p,
        "Creators",
        json!({items.clone(): {"read": true, "create": true}}),
        &bob,
    )
    .await;
    let r = start_import(&bob, &items, "?upsert=code", "code\r\nZ9\r\n").await;
    assert_eq!(r.status, 403, "{r:?}");

    // An owner column names each record's owner by email, for whoever may set owners; for
    // others it is not a way to hand records to someone else.
    let owned = "code,owner\r\nO1,alice@acme.test\r\nO2,\r\nO3,nobody@acme.test\r\n";
    let job = finished(
        &owner,
        &start_import(&owner, &items, "?mode=valid_rows", owned).await,
    )
    .await;
    assert_eq!(job["columns"][1]["field"], "owner", "{job}");
    assert_eq!(
        (job["rows_written"].as_u64(), job["rows_rejected"].as_u64()),
        (Some(2), Some(1)),
        "{job}"
    );
    let all = records_of(&owner, &items).await;
    assert_eq!(by_code(&all, "O1")["owner"], me(&alice).await.as_str());
    assert_eq!(by_code(&all, "O2")["owner"], me(&owner).await.as_str());
    let job = finished(
        &bob,
        &start_import(&bob, &items, "", "code,owner\r\nZ9,alice@acme.test\r\n").await,
    )
    .await;
    assert_eq!(job["columns"][1]["field"], Value::Null, "{job}");
    assert_eq!(job["rows_written"], 1, "{job}");
    let z9 = by_code(&records_of(&owner, &items).await, "Z9");
    assert_eq!(z9["owner"], me(&bob).await.as_str());
    let r = start_import(
        &bob,
        &items,
        "?map=%7B%22owner%22%3A%22owner%22%7D",
        "code,owner\r\nZ8,alice@acme.test\r\n",
    )
    .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "field_not_writable", "{r:?}");
    server.stop().await;
}
