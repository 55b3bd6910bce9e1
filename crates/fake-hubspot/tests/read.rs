//! The read side a HubSpot Source meets, over real HTTP: search semantics and limits, lists of
//! live and archived records, merges, associations, lists, lookups, email and form data, and
//! the controls a sync test uses to cause each kind of change.

use std::time::Duration;

use fake_hubspot::{
    CustomObject, DEFAULT_PORTAL_ID, DEFAULT_TOKEN, FakeConfig, FakeHandle, FakeState,
    GeneratedPortal, Owner, PropertyDefinition, RateLimits,
};
use reqwest::Method;
use serde_json::{Value, json};

/// One answer: status and body as JSON (`Null` when empty).
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    /// The `results` array.
    fn results(&self) -> &[Value] {
        self.body["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no results in {}", self.body))
    }

    /// The `total` of a search answer.
    fn total(&self) -> u64 {
        self.body["total"]
            .as_u64()
            .unwrap_or_else(|| panic!("no total in {}", self.body))
    }

    /// The `id` of every result, in order.
    fn ids(&self) -> Vec<String> {
        self.results()
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(DEFAULT_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer { status, body }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    /// A `/_fake/...` control call that must succeed.
    async fn control(&self, path: &str, body: Value) -> Answer {
        let answer = self.post(path, body).await;
        assert!(answer.status < 300, "{path}: {answer:?}");
        answer
    }

    /// Searches and expects a 200.
    async fn search(&self, ty: &str, body: Value) -> Answer {
        let answer = self
            .post(&format!("/crm/v3/objects/{ty}/search"), body)
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer
    }

    /// Upserts contacts by email (each `(email, properties)`) and returns their ids in order.
    async fn contacts(&self, people: &[(&str, Value)]) -> Vec<String> {
        let mut ids = Vec::new();
        for chunk in people.chunks(100) {
            let inputs: Vec<Value> = chunk
                .iter()
                .map(|(email, props)| json!({ "id": email, "idProperty": "email", "properties": props }))
                .collect();
            let answer = self
                .post(
                    "/crm/v3/objects/contacts/batch/upsert",
                    json!({ "inputs": inputs }),
                )
                .await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            ids.extend(answer.ids());
        }
        ids
    }
}

/// A fake whose rate limits stay out of the way of the test.
fn roomy() -> FakeConfig {
    FakeConfig::default().with_limits(RateLimits {
        max_per_interval: 100_000,
        interval: Duration::from_secs(10),
        daily_max: 10_000_000,
        search_per_second: 100_000,
    })
}

async fn setup(config: FakeConfig) -> (FakeHandle, Api) {
    let fake = fake_hubspot::start(config).await.expect("fake starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let api = Api {
        http,
        base: fake.base_url.clone(),
    };
    (fake, api)
}

fn filter(property: &str, operator: &str, value: Value) -> Value {
    json!({ "propertyName": property, "operator": operator, "value": value })
}

fn one_group(filters: Value) -> Value {
    json!([{ "filters": filters }])
}

// ---------------------------------------------------------------------------------------------
// Search

#[tokio::test]
async fn search_filters_on_ids_and_dates_with_each_types_modified_name() {
    let (fake, api) = setup(roomy()).await;
    let ids = api
        .contacts(&[
            ("a@x.co", json!({ "score": 1 })),
            ("b@x.co", json!({ "score": 2 })),
            ("c@x.co", json!({ "score": 3 })),
        ])
        .await;
    let id = |i: usize| ids[i].parse::<u64>().expect("numeric id");
    let by = |filters: Value| json!({ "filterGroups": one_group(filters), "limit": 100 });
    let found = api
        .search(
            "contacts",
            by(json!([filter("hs_object_id", "GT", json!(id(0)))])),
        )
        .await;
    assert_eq!(found.ids(), ids[1..]);
    let between = json!({ "propertyName": "hs_object_id", "operator": "BETWEEN", "value": ids[0], "highValue": ids[1] });
    assert_eq!(
        api.search("contacts", by(json!([between]))).await.ids(),
        ids[..2]
    );
    let listed =
        json!({ "propertyName": "hs_object_id", "operator": "IN", "values": [ids[0], ids[2]] });
    assert_eq!(
        api.search("contacts", by(json!([listed]))).await.ids(),
        [ids[0].clone(), ids[2].clone()]
    );
    let contact = &fake.state().contacts()[0].clone();
    // Dates compare as instants whether sent as epoch ms or ISO-8601.
    let iso = api
        .search(
            "contacts",
            by(json!([filter(
                "lastmodifieddate",
                "GTE",
                json!("1970-01-02T00:00:00Z")
            )])),
        )
        .await;
    assert_eq!(iso.body["total"], 3);
    let ms = api
        .search(
            "contacts",
            by(json!([
                filter("createdate", "LTE", json!(contact.created_at)),
                filter("createdate", "GTE", json!(contact.created_at)),
                filter("hs_object_id", "EQ", json!(contact.id)),
            ])),
        )
        .await;
    assert_eq!(ms.ids(), std::slice::from_ref(&contact.id));
    // Contacts answer to `lastmodifieddate` only, the other types to `hs_lastmodifieddate`.
    let wrong = api
        .post(
            "/crm/v3/objects/contacts/search",
            by(json!([filter("hs_lastmodifieddate", "GT", json!(0))])),
        )
        .await;
    assert_eq!(wrong.status, 400);
    let company = api
        .post(
            "/crm/v3/objects/companies/search",
            by(json!([filter("hs_lastmodifieddate", "GT", json!(0))])),
        )
        .await;
    assert_eq!(company.status, 200);
    let wrong = api
        .post(
            "/crm/v3/objects/companies/search",
            by(json!([filter("lastmodifieddate", "GT", json!(0))])),
        )
        .await;
    assert_eq!(wrong.status, 400);
    // A bare `filters` list outside any group is one more group.
    let bare = api
        .search(
            "contacts",
            json!({ "filters": [filter("score", "GTE", json!(2))], "limit": 100 }),
        )
        .await;
    assert_eq!(bare.ids(), ids[1..]);
}

#[tokio::test]
async fn search_limits_groups_filters_sorts_and_page_size() {
    let (_fake, api) = setup(roomy()).await;
    let search = |body: Value| api.post("/crm/v3/objects/contacts/search", body);
    let f = filter("firstname", "EQ", json!("x"));
    let group = |n: usize| json!({ "filters": vec![f.clone(); n] });
    assert_eq!(
        search(json!({ "filterGroups": vec![group(1); 6] }))
            .await
            .status,
        400,
        "six groups"
    );
    assert_eq!(
        search(json!({ "filterGroups": [group(11)] })).await.status,
        400,
        "eleven filters in one group"
    );
    assert_eq!(
        search(json!({ "filterGroups": [group(10), group(10), group(6)] }))
            .await
            .status,
        400,
        "26 filters in all"
    );
    assert_eq!(
        search(json!({ "filterGroups": [group(10), group(10), group(5)] }))
            .await
            .status,
        200,
        "25 filters, 10 per group at most"
    );
    let two_sorts = json!({ "sorts": [
        { "propertyName": "createdate", "direction": "ASCENDING" },
        { "propertyName": "hs_object_id", "direction": "ASCENDING" },
    ]});
    assert_eq!(search(two_sorts).await.status, 400, "one sort only");
    assert_eq!(search(json!({ "limit": 201 })).await.status, 400);
    assert_eq!(search(json!({ "limit": 200 })).await.status, 200);
}

#[tokio::test]
async fn search_sorts_and_orders_ties_neither_by_id_nor_by_insertion() {
    let (_fake, api) = setup(roomy()).await;
    let people: Vec<(String, Value)> = (0..30)
        .map(|i| (format!("p{i}@x.co"), json!({ "score": i % 3 })))
        .collect();
    let people: Vec<(&str, Value)> = people
        .iter()
        .map(|(e, p)| (e.as_str(), p.clone()))
        .collect();
    let ids = api.contacts(&people).await;
    let sorted = |property: &str, direction: &str, after: Option<&str>| {
        let mut body = json!({
            "sorts": [{ "propertyName": property, "direction": direction }],
            "properties": ["score"],
            "limit": 7,
        });
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        api.search("contacts", body)
    };
    let by_id = sorted("hs_object_id", "DESCENDING", None).await;
    let mut descending = ids.clone();
    descending.reverse();
    assert_eq!(by_id.ids(), descending[..7]);
    // Page through a sort with ties: every record exactly once, scores in order, and the ties
    // are not in id order.
    let mut seen = Vec::new();
    let mut scores = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = sorted("score", "ASCENDING", after.as_deref()).await;
        assert_eq!(page.body["total"], 30);
        for r in page.results() {
            seen.push(r["id"].as_str().unwrap_or_default().to_string());
            scores.push(
                r["properties"]["score"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        match page.body["paging"]["next"]["after"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 30, "each record once");
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
    let ties: Vec<u64> = seen[..10]
        .iter()
        .map(|id| id.parse().unwrap_or_default())
        .collect();
    assert!(
        !ties.windows(2).all(|w| w[0] < w[1]),
        "ties must not come in id order: {ties:?}"
    );
}

#[tokio::test]
async fn search_pages_end_at_10000_results_with_a_400() {
    let (_fake, api) = setup(roomy()).await;
    let people: Vec<(String, Value)> = (0..10_001)
        .map(|i| (format!("bulk{i}@x.co"), json!({})))
        .collect();
    let people: Vec<(&str, Value)> = people
        .iter()
        .map(|(e, p)| (e.as_str(), p.clone()))
        .collect();
    api.contacts(&people).await;
    let page = |after: u64, limit: u64| {
        api.post(
            "/crm/v3/objects/contacts/search",
            json!({ "limit": limit, "after": after.to_string() }),
        )
    };
    let last = page(9_800, 200).await;
    assert_eq!(last.status, 200);
    assert_eq!(last.body["total"], 10_001, "total counts every match");
    assert_eq!(last.results().len(), 200);
    assert_eq!(
        last.body["paging"]["next"]["after"], "10000",
        "the cursor still points past the cap"
    );
    let past = page(10_000, 200).await;
    assert_eq!(past.status, 400);
    assert_eq!(past.body["category"], "VALIDATION_ERROR");
    assert!(
        past.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("10000")),
        "{:?}",
        past.body
    );
    assert_eq!(
        page(9_900, 200).await.status,
        400,
        "a page straddling the cap"
    );
    assert_eq!(page(9_900, 100).await.status, 200);
}

/// A fixed modified time well in the past: 2023-11-14T22:13:20Z.
const LONG_AGO_MS: i64 = 1_700_000_000_000;

#[tokio::test]
async fn search_shows_the_previous_version_with_its_modified_time_until_the_lag_passes() {
    let (fake, api) = setup(roomy().with_search_lag(Duration::from_secs(3600))).await;
    let id = api
        .contacts(&[("lag@x.co", json!({ "firstname": "Old" }))])
        .await[0]
        .clone();
    let by_email = json!({ "filterGroups": one_group(json!([filter("email", "EQ", json!("lag@x.co"))])), "properties": ["firstname"] });
    assert_eq!(
        api.search("contacts", by_email.clone()).await.body["total"],
        0,
        "new and not indexed yet"
    );
    // Pretend the record was last written long ago and has been indexed since.
    api.control(
        "/_fake/objects/contacts/modify",
        json!({ "ids": [id], "at_ms": LONG_AGO_MS, "indexed": true }),
    )
    .await;
    let old = api.search("contacts", by_email.clone()).await;
    assert_eq!(old.ids(), std::slice::from_ref(&id));
    api.contacts(&[("lag@x.co", json!({ "firstname": "New" }))])
        .await;
    let shown = api.search("contacts", by_email.clone()).await;
    assert_eq!(shown.body["total"], 1, "one record, one version");
    let shown = &shown.results()[0];
    assert_eq!(shown["properties"]["firstname"], "Old");
    assert_eq!(
        shown["properties"]["lastmodifieddate"], "2023-11-14T22:13:20.000Z",
        "the index shows the old modified time too"
    );
    // A cursor query past the old time misses the write until the index catches up.
    let since_old = json!({ "filterGroups": one_group(json!([filter("lastmodifieddate", "GT", json!(LONG_AGO_MS))])) });
    assert_eq!(
        api.search("contacts", since_old.clone()).await.body["total"],
        0
    );
    // Reads by id are not lagged.
    assert_eq!(fake.state().contacts()[0].properties["firstname"], "New");
    // A record created just now through the control lags like any write, uncounted.
    let requests = fake.state().total_requests;
    let created = api
        .control(
            "/_fake/objects/contacts/create",
            json!({ "properties": { "email": "now@x.co" } }),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(fake.state().total_requests, requests);
    let now =
        json!({ "filterGroups": one_group(json!([filter("email", "EQ", json!("now@x.co"))])) });
    assert_eq!(api.search("contacts", now.clone()).await.body["total"], 0);
    // Settling over HTTP, as another process would.
    api.control("/_fake/search/settle", json!({})).await;
    let settled = api.search("contacts", by_email).await;
    assert_eq!(settled.results()[0]["properties"]["firstname"], "New");
    let since = api.search("contacts", since_old).await;
    assert_eq!(since.total(), 2, "the write and the record created since");
    assert!(since.ids().contains(&id));
    assert_eq!(api.search("contacts", now).await.body["total"], 1);
}

// ---------------------------------------------------------------------------------------------
// Listing, archiving, restoring

/// Every page of `GET /crm/v3/objects/{type}?{query}`: the ids and the pages' sizes.
async fn list_all(api: &Api, ty: &str, query: &str) -> (Vec<String>, Vec<usize>) {
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    let mut after = String::new();
    loop {
        let page = api
            .get(&format!("/crm/v3/objects/{ty}?{query}&after={after}"))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        sizes.push(page.results().len());
        ids.extend(page.ids());
        match page.body["paging"]["next"]["after"].as_str() {
            Some(next) => after = next.to_string(),
            None => return (ids, sizes),
        }
    }
}

#[tokio::test]
async fn list_pages_live_records_and_archived_ones_apart() {
    let (fake, api) = setup(roomy()).await;
    let people: Vec<(String, Value)> = (0..5)
        .map(|i| {
            (
                format!("l{i}@x.co"),
                json!({ "firstname": format!("L{i}") }),
            )
        })
        .collect();
    let people: Vec<(&str, Value)> = people
        .iter()
        .map(|(e, p)| (e.as_str(), p.clone()))
        .collect();
    let ids = api.contacts(&people).await;
    let (listed, sizes) = list_all(&api, "contacts", "limit=2&properties=firstname").await;
    assert_eq!(listed, ids);
    assert_eq!(sizes, [2, 2, 1]);
    let page = api
        .get("/crm/v3/objects/contacts?limit=1&properties=firstname,email")
        .await;
    assert_eq!(page.results()[0]["properties"]["firstname"], "L0");
    assert_eq!(page.results()[0]["properties"]["email"], "l0@x.co");
    assert_eq!(
        api.get("/crm/v3/objects/contacts?limit=101").await.status,
        400
    );
    assert_eq!(
        api.get("/crm/v3/objects/contacts?limit=100").await.status,
        200
    );

    let before = fake.state().contacts()[1].updated_at;
    let deleted = api
        .send(
            Method::DELETE,
            &format!("/crm/v3/objects/contacts/{}", ids[1]),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    let batch = api
        .post(
            "/crm/v3/objects/contacts/batch/archive",
            json!({ "inputs": [{ "id": ids[3] }, { "id": "999999" }] }),
        )
        .await;
    assert_eq!(batch.status, 204, "unknown ids are ignored");
    let again = api
        .send(
            Method::DELETE,
            &format!("/crm/v3/objects/contacts/{}", ids[1]),
            None,
        )
        .await;
    assert_eq!(again.status, 204, "archiving twice is not an error");

    let (live, _) = list_all(&api, "contacts", "limit=2").await;
    assert_eq!(live, [ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    let archived = api
        .get("/crm/v3/objects/contacts?archived=true&limit=10")
        .await;
    assert_eq!(archived.ids(), [ids[1].clone(), ids[3].clone()]);
    let first = &archived.results()[0];
    assert_eq!(first["archived"], true);
    assert!(first["archivedAt"].is_string());
    let state = fake.state();
    let kept = state
        .contacts()
        .into_iter()
        .find(|c| c.id == ids[1])
        .expect("still stored");
    assert_eq!(
        kept.updated_at, before,
        "archiving does not move the modified time"
    );
    assert!(kept.archived_at.is_some());

    // Archived records are gone from search and reads, unless asked for.
    let all = api.search("contacts", json!({ "limit": 100 })).await;
    assert_eq!(all.body["total"], 3);
    let path = format!("/crm/v3/objects/contacts/{}", ids[1]);
    assert_eq!(api.get(&path).await.status, 404);
    let read = api.get(&format!("{path}?archived=true")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["archived"], true);
    let batch = api
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({ "inputs": [{ "id": ids[1] }, { "id": ids[0] }] }),
        )
        .await;
    assert_eq!(batch.status, 207);
    assert_eq!(batch.body["errors"][0]["context"]["ids"], json!([ids[1]]));
    let update = api
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({ "inputs": [{ "id": ids[1], "properties": { "firstname": "X" } }] }),
        )
        .await;
    assert_eq!(
        update.status, 404,
        "an archived record cannot be updated by id"
    );
}

#[tokio::test]
async fn restoring_brings_a_record_back_by_upsert_or_control() {
    let (fake, api) = setup(roomy()).await;
    let ids = api
        .contacts(&[
            ("back@x.co", json!({ "firstname": "Back" })),
            ("quiet@x.co", json!({ "firstname": "Quiet" })),
        ])
        .await;
    api.control(
        "/_fake/objects/contacts/modify",
        json!({ "ids": ids, "at_ms": LONG_AGO_MS, "indexed": true }),
    )
    .await;
    api.control("/_fake/objects/contacts/archive", json!({ "ids": ids }))
        .await;
    assert_eq!(api.search("contacts", json!({})).await.body["total"], 0);

    // Re-creating by the unique value restores the same record, with a new modified time.
    let again = api
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({ "inputs": [{ "id": "back@x.co", "idProperty": "email", "properties": { "lastname": "Again" } }] }),
        )
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.ids(), [ids[0].clone()]);
    assert_eq!(again.results()[0]["new"], false);
    let restored = api
        .get(&format!(
            "/crm/v3/objects/contacts/{}?properties=firstname,lastname",
            ids[0]
        ))
        .await;
    assert_eq!(restored.body["archived"], false);
    assert_eq!(restored.body["properties"]["firstname"], "Back");
    assert_eq!(restored.body["properties"]["lastname"], "Again");
    let moved = json!({ "filterGroups": one_group(json!([filter("lastmodifieddate", "GT", json!(LONG_AGO_MS))])) });
    assert_eq!(
        api.search("contacts", moved.clone()).await.ids(),
        [ids[0].clone()]
    );

    // A restore that keeps the old modified time: visible to a list, invisible to a cursor.
    api.control(
        "/_fake/objects/contacts/restore",
        json!({ "ids": [ids[1]], "touch": false }),
    )
    .await;
    let archived = api.get("/crm/v3/objects/contacts?archived=true").await;
    assert!(archived.results().is_empty());
    let (live, _) = list_all(&api, "contacts", "limit=10").await;
    assert_eq!(live, ids);
    assert_eq!(api.search("contacts", moved).await.ids(), [ids[0].clone()]);
    let quiet = fake
        .state()
        .contacts()
        .into_iter()
        .find(|c| c.id == ids[1])
        .map(|c| c.updated_at);
    assert_eq!(quiet, Some(LONG_AGO_MS));
    let bad = api
        .post(
            "/_fake/objects/contacts/restore",
            json!({ "ids": [ids[1]] }),
        )
        .await;
    assert_eq!(bad.status, 404, "only archived records can be restored");
}

// ---------------------------------------------------------------------------------------------
// Associations

/// Creates companies by (unique) name and returns their ids in order.
async fn companies(api: &Api, names: &[&str]) -> Vec<String> {
    let inputs: Vec<Value> = names
        .iter()
        .map(|name| json!({ "id": name, "idProperty": "name", "properties": {} }))
        .collect();
    let answer = api
        .post(
            "/crm/v3/objects/companies/batch/upsert",
            json!({ "inputs": inputs }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.ids()
}

#[tokio::test]
async fn associations_read_in_batches_with_types_and_labels_from_either_side() {
    let config = roomy().with_property(
        "companies",
        PropertyDefinition::string("name", "companyinformation").unique(),
    );
    let (fake, api) = setup(config).await;
    let contacts = api
        .contacts(&[
            ("a@x.co", json!({})),
            ("b@x.co", json!({})),
            ("c@x.co", json!({})),
        ])
        .await;
    let firms = companies(&api, &["Acme", "Initech"]).await;
    let before = fake.state();
    let associate = api
        .post(
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            json!({ "inputs": [
                { "from": { "id": contacts[0] }, "to": { "id": firms[0] } },
                { "from": { "id": contacts[1] }, "to": { "id": firms[0] } },
            ]}),
        )
        .await;
    assert_eq!(associate.status, 200);
    // A labeled link, stored from the company's side.
    api.control(
        "/_fake/associations",
        json!({ "from_type": "companies", "from_id": firms[1], "to_type": "contacts", "to_id": contacts[0],
                "type_id": 2, "inverse_type_id": 1, "label": "Primary" }),
    )
    .await;
    let read = api
        .post(
            "/crm/v4/associations/contacts/companies/batch/read",
            json!({ "inputs": [{ "id": contacts[0] }, { "id": contacts[1] }, { "id": contacts[2] }] }),
        )
        .await;
    assert_eq!(read.status, 207, "{:?}", read.body);
    let results = read.results();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["from"]["id"], contacts[0]);
    let to = results[0]["to"].as_array().expect("to");
    assert_eq!(to.len(), 2);
    let first: u64 = firms[0].parse().expect("id");
    assert_eq!(to[0]["toObjectId"], first);
    assert_eq!(
        to[0]["associationTypes"],
        json!([{ "category": "HUBSPOT_DEFINED", "typeId": 279, "label": null }])
    );
    assert_eq!(
        to[1]["associationTypes"],
        json!([{ "category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary" }]),
        "read from the contact's side, the inverse type"
    );
    assert_eq!(
        read.body["errors"][0]["context"]["fromObjectId"],
        json!([contacts[2]]),
        "an id with nothing associated is an error, not an empty result"
    );
    let from_company = api
        .post(
            "/crm/v4/associations/companies/contacts/batch/read",
            json!({ "inputs": [{ "id": firms[0] }] }),
        )
        .await;
    assert_eq!(from_company.status, 200);
    let to = from_company.results()[0]["to"]
        .as_array()
        .expect("to")
        .clone();
    assert_eq!(to.len(), 2);
    assert_eq!(to[0]["associationTypes"][0]["typeId"], 280);

    // Removing links: a whole pair through the API, one type through the control.
    let archive = api
        .post(
            "/crm/v4/associations/companies/contacts/batch/archive",
            json!({ "inputs": [{ "from": { "id": firms[0] }, "to": [{ "id": contacts[1] }] }] }),
        )
        .await;
    assert_eq!(archive.status, 204);
    api.control(
        "/_fake/associations/remove",
        json!({ "from_type": "contacts", "from_id": contacts[0], "to_type": "companies", "to_id": firms[1], "type_id": 1 }),
    )
    .await;
    let read = api
        .post(
            "/crm/v4/associations/contacts/companies/batch/read",
            json!({ "inputs": [{ "id": contacts[0] }, { "id": contacts[1] }] }),
        )
        .await;
    assert_eq!(read.results().len(), 1);
    let to = read.results()[0]["to"].as_array().expect("to").clone();
    assert_eq!(to.len(), 1);
    assert_eq!(to[0]["toObjectId"], first);
    // None of this touched a record's modified time.
    let after = fake.state();
    for ty in ["contacts", "companies"] {
        let times = |state: &FakeState| -> Vec<i64> {
            state.objects_of(ty).iter().map(|o| o.updated_at).collect()
        };
        assert_eq!(times(&before), times(&after), "{ty}");
    }
    let listed = api
        .get(&format!(
            "/crm/v4/objects/contacts/{}/associations/companies",
            contacts[0]
        ))
        .await;
    assert_eq!(listed.results().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Merges

#[tokio::test]
async fn a_merge_makes_a_new_record_that_both_old_ids_resolve_to() {
    let config = roomy().with_property(
        "companies",
        PropertyDefinition::string("name", "companyinformation").unique(),
    );
    let (fake, api) = setup(config).await;
    let ids = api
        .contacts(&[
            ("a@x.co", json!({ "firstname": "Ann" })),
            (
                "b@x.co",
                json!({ "firstname": "Bea", "lastname": "Bee", "hs_additional_emails": "b2@x.co" }),
            ),
        ])
        .await;
    let firms = companies(&api, &["Acme", "Initech"]).await;
    for (contact, firm) in ids.iter().zip(&firms) {
        api.control(
            "/_fake/associations",
            json!({ "from_type": "contacts", "from_id": contact, "to_type": "companies", "to_id": firm }),
        )
        .await;
    }
    api.control(
        "/_fake/objects/contacts/modify",
        json!({ "ids": ids, "at_ms": LONG_AGO_MS, "indexed": true }),
    )
    .await;
    let merged = api
        .post(
            "/crm/v3/objects/contacts/merge",
            json!({ "primaryObjectId": ids[0], "objectIdToMerge": ids[1] }),
        )
        .await;
    assert_eq!(merged.status, 200, "{:?}", merged.body);
    let new_id = merged.body["id"].as_str().expect("id").to_string();
    assert!(!ids.contains(&new_id), "a merge makes a new record");
    let props = &merged.body["properties"];
    assert_eq!(props["firstname"], "Ann", "the primary's values win");
    assert_eq!(props["lastname"], "Bee", "the secondary fills the gaps");
    assert_eq!(props["email"], "a@x.co");
    assert_eq!(props["hs_additional_emails"], "b2@x.co;b@x.co");
    let mut both: Vec<u64> = ids.iter().map(|i| i.parse().expect("id")).collect();
    both.sort_unstable();
    assert_eq!(
        props["hs_merged_object_ids"],
        format!("{};{}", both[0], both[1])
    );
    let vids = props["hs_calculated_merged_vids"].as_str().expect("vids");
    let merged_vids: Vec<&str> = vids
        .split(';')
        .filter_map(|pair| pair.split(':').next())
        .collect();
    assert_eq!(merged_vids, [ids[0].as_str(), ids[1].as_str()]);

    // Both old ids answer the new record; search and lists see only it.
    for old in &ids {
        let read = api.get(&format!("/crm/v3/objects/contacts/{old}")).await;
        assert_eq!(read.status, 200);
        assert_eq!(read.body["id"], new_id);
    }
    let batch = api
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({ "inputs": [{ "id": ids[1] }] }),
        )
        .await;
    assert_eq!(batch.ids(), std::slice::from_ref(&new_id));
    let changed = json!({ "filterGroups": one_group(json!([filter("lastmodifieddate", "GT", json!(LONG_AGO_MS))])) });
    assert_eq!(
        api.search("contacts", changed).await.ids(),
        std::slice::from_ref(&new_id),
        "the new record's modified time is after the cursor"
    );
    assert_eq!(api.search("contacts", json!({})).await.body["total"], 1);
    let (live, _) = list_all(&api, "contacts", "limit=10").await;
    assert_eq!(live, std::slice::from_ref(&new_id));
    let archived = api.get("/crm/v3/objects/contacts?archived=true").await;
    assert!(archived.results().is_empty(), "merged is not archived");
    let state = fake.state();
    for old in &ids {
        let kept = state
            .contacts()
            .into_iter()
            .find(|c| &c.id == old)
            .expect("kept");
        assert_eq!(kept.merged_into.as_deref(), Some(new_id.as_str()));
    }

    // The emails and the associations follow the new record.
    let upsert = api
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({ "inputs": [{ "id": "B@x.co", "idProperty": "email", "properties": { "phone": "1" } }] }),
        )
        .await;
    assert_eq!(upsert.ids(), std::slice::from_ref(&new_id));
    let swap = api
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({ "inputs": [{ "id": new_id, "properties": { "email": "b@x.co" } }] }),
        )
        .await;
    assert_eq!(
        swap.status, 200,
        "the merged emails are the new record's own: {:?}",
        swap.body
    );
    let read = api
        .post(
            "/crm/v4/associations/contacts/companies/batch/read",
            json!({ "inputs": [{ "id": new_id }] }),
        )
        .await;
    let linked: Vec<String> = read.results()[0]["to"]
        .as_array()
        .expect("to")
        .iter()
        .map(|t| t["toObjectId"].to_string())
        .collect();
    assert_eq!(linked, firms);

    let itself = api
        .post(
            "/crm/v3/objects/contacts/merge",
            json!({ "primaryObjectId": new_id, "objectIdToMerge": ids[0] }),
        )
        .await;
    assert_eq!(itself.status, 400, "an old id is the new record itself");
    let missing = api
        .post(
            "/crm/v3/objects/contacts/merge",
            json!({ "primaryObjectId": new_id, "objectIdToMerge": "999999" }),
        )
        .await;
    assert_eq!(missing.status, 404);
}

// ---------------------------------------------------------------------------------------------
// Schemas, owners, pipelines

#[tokio::test]
async fn custom_objects_are_listed_by_schema_and_answer_to_every_alias() {
    let cars = CustomObject::new(
        "cars",
        vec![
            PropertyDefinition::string("vin", "carinformation").unique(),
            PropertyDefinition::number("year", "carinformation"),
        ],
    );
    let (fake, api) = setup(roomy().with_custom_object(cars)).await;
    let schemas = api.get("/crm/v3/schemas").await;
    assert_eq!(schemas.status, 200);
    let schema = &schemas.results()[0];
    assert_eq!(schema["name"], "cars");
    assert_eq!(schema["objectTypeId"], "2-3000001");
    let qualified = format!("p{DEFAULT_PORTAL_ID}_cars");
    assert_eq!(schema["fullyQualifiedName"], qualified);
    assert_eq!(schema["primaryDisplayProperty"], "vin");
    let names = |schema: &Value| -> Vec<String> {
        schema["properties"]
            .as_array()
            .expect("properties")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names(schema), ["vin", "year"]);

    let created = api
        .post(
            "/crm/v3/objects/2-3000001/batch/upsert",
            json!({ "inputs": [{ "id": "V1", "idProperty": "vin", "properties": { "year": 1999 } }] }),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.ids()[0].clone();
    for path in [qualified.as_str(), "p_cars", "2-3000001"] {
        let read = api
            .get(&format!("/crm/v3/objects/{path}/{id}?properties=year"))
            .await;
        assert_eq!(read.status, 200, "{path}");
        assert_eq!(read.body["properties"]["year"], "1999");
    }
    assert_eq!(fake.state().objects_of("p_cars").len(), 1);

    // A new property is a new column on the next sync.
    let color = json!({ "name": "color", "label": "Color", "type": "string", "fieldType": "text", "groupName": "carinformation" });
    api.control("/_fake/properties/p_cars", color).await;
    let schemas = api.get("/crm/v3/schemas").await;
    assert_eq!(names(&schemas.results()[0]), ["color", "vin", "year"]);
    let properties = api.get("/crm/v3/properties/2-3000001").await;
    assert_eq!(properties.results().len(), 3);
    let requests = fake.state().total_requests;
    api.control(
        "/_fake/properties/contacts",
        json!({ "name": "plan", "label": "Plan", "type": "string", "fieldType": "text", "groupName": "contactinformation" }),
    )
    .await;
    assert_eq!(
        fake.state().total_requests,
        requests,
        "controls are not counted"
    );
    assert_eq!(
        api.get("/crm/v3/properties/contacts/plan").await.status,
        200
    );
}

#[tokio::test]
async fn owners_page_and_pipelines_list_their_stages() {
    let config = roomy()
        .with_owner(Owner::new(7_001, "Bo@example.com", "Bo", "Brown"))
        .with_owner(Owner {
            archived: true,
            ..Owner::new(7_002, "gone@example.com", "Gus", "Gone")
        });
    let (_fake, api) = setup(config).await;
    let first = api.get("/crm/v3/owners?limit=1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.results()[0]["email"], "admin@example.com");
    assert_eq!(first.results()[0]["type"], "PERSON");
    let after = first.body["paging"]["next"]["after"]
        .as_str()
        .expect("after");
    let second = api
        .get(&format!("/crm/v3/owners?limit=1&after={after}"))
        .await;
    assert_eq!(second.ids(), ["7001"]);
    assert!(
        second.body.get("paging").is_none(),
        "archived owners are apart"
    );
    let archived = api.get("/crm/v3/owners?archived=true").await;
    assert_eq!(archived.ids(), ["7002"]);
    let by_email = api.get("/crm/v3/owners?email=bo@example.com").await;
    assert_eq!(by_email.results()[0]["userId"], 1_007_001);
    assert_eq!(api.get("/crm/v3/owners?limit=501").await.status, 400);

    let deals = api.get("/crm/v3/pipelines/deals").await;
    assert_eq!(deals.status, 200);
    let pipeline = &deals.results()[0];
    assert_eq!(pipeline["id"], "default");
    let stages = pipeline["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 7);
    assert_eq!(stages[5]["id"], "closedwon");
    assert_eq!(stages[5]["metadata"]["probability"], "1.0");
    let tickets = api.get("/crm/v3/pipelines/0-5").await;
    let stages = tickets.results()[0]["stages"]
        .as_array()
        .expect("stages")
        .clone();
    assert_eq!(stages[3]["metadata"]["ticketState"], "CLOSED");
    assert!(
        api.get("/crm/v3/pipelines/contacts")
            .await
            .results()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Lists

#[tokio::test]
async fn lists_search_in_pages_with_their_size_and_type() {
    let (_fake, api) = setup(roomy()).await;
    let people: Vec<(String, Value)> = (0..4).map(|i| (format!("m{i}@x.co"), json!({}))).collect();
    let people: Vec<(&str, Value)> = people
        .iter()
        .map(|(e, p)| (e.as_str(), p.clone()))
        .collect();
    let ids = api.contacts(&people).await;
    for (name, kind, members) in [
        ("Newsletter", "MANUAL", &ids[..3]),
        ("Webinar", "SNAPSHOT", &ids[..1]),
        ("Active", "DYNAMIC", &ids[..]),
    ] {
        api.control(
            "/_fake/lists",
            json!({ "name": name, "processing_type": kind, "members": members }),
        )
        .await;
    }
    let first = api
        .post(
            "/crm/v3/lists/search",
            json!({ "count": 2, "offset": 0, "additionalProperties": ["hs_lastmodifieddate"] }),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body["total"], 3);
    assert_eq!(first.body["hasMore"], true);
    let lists = first.body["lists"].as_array().expect("lists");
    assert_eq!(lists[0]["name"], "Newsletter");
    assert_eq!(lists[0]["listId"], "1");
    assert_eq!(lists[0]["processingType"], "MANUAL");
    assert_eq!(lists[0]["objectTypeId"], "0-1");
    assert_eq!(lists[0]["additionalProperties"]["hs_list_size"], "3");
    assert!(lists[0]["additionalProperties"]["hs_lastmodifieddate"].is_string());
    let rest = api
        .post(
            "/crm/v3/lists/search",
            json!({ "count": 2, "offset": first.body["offset"] }),
        )
        .await;
    assert_eq!(rest.body["hasMore"], false);
    assert_eq!(rest.body["lists"][0]["processingType"], "DYNAMIC");
    let dynamic = api
        .post(
            "/crm/v3/lists/search",
            json!({ "processingTypes": ["DYNAMIC", "SNAPSHOT"], "query": "a" }),
        )
        .await;
    let names: Vec<&str> = dynamic.body["lists"]
        .as_array()
        .expect("lists")
        .iter()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names, ["Webinar", "Active"]);
    assert_eq!(
        api.post("/crm/v3/lists/search", json!({ "count": 501 }))
            .await
            .status,
        400
    );
    let one = api.get("/crm/v3/lists/3").await;
    assert_eq!(one.body["list"]["size"], 4);
}

/// Every member of a list, read two at a time.
async fn members(api: &Api, list: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut after = String::new();
    loop {
        let page = api
            .get(&format!(
                "/crm/v3/lists/{list}/memberships?limit=2&after={after}"
            ))
            .await;
        assert_eq!(page.status, 200, "{:?}", page.body);
        for r in page.results() {
            assert!(r["membershipTimestamp"].is_string());
            found.push(r["recordId"].as_str().unwrap_or_default().to_string());
        }
        match page.body["paging"]["next"]["after"].as_str() {
            Some(next) => after = next.to_string(),
            None => return found,
        }
    }
}

#[tokio::test]
async fn memberships_page_by_record_and_follow_edits_archives_and_merges() {
    let (_fake, api) = setup(roomy()).await;
    let people: Vec<(String, Value)> = (0..4).map(|i| (format!("n{i}@x.co"), json!({}))).collect();
    let people: Vec<(&str, Value)> = people
        .iter()
        .map(|(e, p)| (e.as_str(), p.clone()))
        .collect();
    let ids = api.contacts(&people).await;
    let manual = api
        .control(
            "/_fake/lists",
            json!({ "name": "Manual", "members": &ids[..3] }),
        )
        .await
        .body["listId"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(members(&api, &manual).await, ids[..3]);

    let path = format!("/crm/v3/lists/{manual}/memberships");
    let removed = api
        .send(
            Method::PUT,
            &format!("{path}/remove"),
            Some(json!([ids[0], "424242"])),
        )
        .await;
    assert_eq!(removed.status, 200);
    assert_eq!(removed.body["recordIdsRemoved"], json!([ids[0]]));
    assert_eq!(removed.body["recordIdsMissing"], json!(["424242"]));
    let added = api
        .send(
            Method::PUT,
            &format!("{path}/add"),
            Some(json!([ids[3], ids[1], "424242"])),
        )
        .await;
    assert_eq!(
        added.body["recordsIdsAdded"],
        json!([ids[3]]),
        "members are ignored"
    );
    assert_eq!(added.body["recordIdsMissing"], json!(["424242"]));
    assert_eq!(members(&api, &manual).await, ids[1..]);

    // Archived members drop out until restored; merged members become the new record.
    api.control(
        "/_fake/objects/contacts/archive",
        json!({ "ids": [ids[2]] }),
    )
    .await;
    assert_eq!(
        members(&api, &manual).await,
        [ids[1].clone(), ids[3].clone()]
    );
    api.control(
        "/_fake/objects/contacts/restore",
        json!({ "ids": [ids[2]] }),
    )
    .await;
    assert_eq!(members(&api, &manual).await, ids[1..]);
    let merged = api
        .post(
            "/crm/v3/objects/contacts/merge",
            json!({ "primaryObjectId": ids[1], "objectIdToMerge": ids[2] }),
        )
        .await;
    let new_id = merged.body["id"].as_str().expect("id").to_string();
    assert_eq!(members(&api, &manual).await, [ids[3].clone(), new_id]);

    // DYNAMIC lists refuse API edits; HubSpot (the control) still changes them.
    let dynamic = api
        .control(
            "/_fake/lists",
            json!({ "name": "Dynamic", "processing_type": "DYNAMIC", "members": [ids[3]] }),
        )
        .await
        .body["listId"]
        .as_str()
        .expect("id")
        .to_string();
    let refused = api
        .send(
            Method::PUT,
            &format!("/crm/v3/lists/{dynamic}/memberships/remove"),
            Some(json!([ids[3]])),
        )
        .await;
    assert_eq!(refused.status, 400);
    api.control(
        &format!("/_fake/lists/{dynamic}/remove"),
        json!({ "ids": [ids[3]] }),
    )
    .await;
    assert!(members(&api, &dynamic).await.is_empty());
    let too_many = api.get(&format!("{path}?limit=251")).await;
    assert_eq!(too_many.status, 400);

    api.control(&format!("/_fake/lists/{dynamic}/delete"), json!({}))
        .await;
    assert_eq!(
        api.get(&format!("/crm/v3/lists/{dynamic}/memberships"))
            .await
            .status,
        404
    );
    let search = api.post("/crm/v3/lists/search", json!({})).await;
    assert_eq!(search.body["total"], 1);
}

// ---------------------------------------------------------------------------------------------
// Email, forms, v1 contacts

/// A campaign made through the control; its id.
async fn campaign(api: &Api, name: &str) -> u64 {
    let answer = api
        .control(
            "/_fake/email/campaigns",
            json!({ "name": name, "subject": format!("About {name}") }),
        )
        .await;
    answer.body["id"].as_u64().expect("campaign id")
}

#[tokio::test]
async fn email_events_page_newest_first_within_the_window() {
    let (_fake, api) = setup(roomy()).await;
    let id = campaign(&api, "Launch").await;
    let t = LONG_AGO_MS;
    let sent = api
        .control(
            "/_fake/email/events",
            json!({ "events": [{ "id": "sent-1", "type": "SENT", "recipient": "A@x.co", "campaign_id": id, "created_at": t }] }),
        )
        .await;
    assert_eq!(sent.body["ids"], json!(["sent-1"]));
    let later: Vec<Value> = (1..=4)
        .map(|i| json!({ "id": format!("open-{i}"), "type": if i == 4 { "CLICK" } else { "OPEN" },
                         "recipient": "a@x.co", "campaign_id": id, "created_at": t + i, "sent_by": "sent-1",
                         "fields": { "url": "https://example.com/p" } }))
        .collect();
    api.control("/_fake/email/events", json!({ "events": later }))
        .await;
    let window = format!("startTimestamp={}&endTimestamp={}", t + 1, t + 4);
    let first = api
        .get(&format!("/email/public/v1/events?{window}&limit=2"))
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let ids = |a: &Answer| -> Vec<String> {
        a.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&first), ["open-4", "open-3"], "newest first");
    assert_eq!(first.body["hasMore"], true);
    let event = &first.body["events"][0];
    assert_eq!(event["type"], "CLICK");
    assert_eq!(event["created"], t + 4);
    assert_eq!(event["recipient"], "a@x.co");
    assert_eq!(event["emailCampaignId"], id);
    assert_eq!(event["appId"], 113);
    assert_eq!(event["sentBy"], json!({ "id": "sent-1", "created": t }));
    assert_eq!(event["url"], "https://example.com/p");
    // A late event behind the cursor is still read; the offset is a position, not a count.
    api.control(
        "/_fake/email/events",
        json!({ "events": [{ "id": "late", "type": "OPEN", "recipient": "b@x.co", "campaign_id": id, "created_at": t + 2 }] }),
    )
    .await;
    let offset = first.body["offset"].as_str().expect("offset");
    let second = api
        .get(&format!(
            "/email/public/v1/events?{window}&limit=2&offset={offset}"
        ))
        .await;
    assert_eq!(ids(&second), ["open-2", "late"]);
    let third_offset = second.body["offset"].as_str().expect("offset");
    let third = api
        .get(&format!(
            "/email/public/v1/events?{window}&limit=2&offset={third_offset}"
        ))
        .await;
    assert_eq!(ids(&third), ["open-1"]);
    assert_eq!(third.body["hasMore"], false);
    let clicks = api
        .get(&format!("/email/public/v1/events?{window}&eventType=CLICK"))
        .await;
    assert_eq!(ids(&clicks), ["open-4"]);
    assert_eq!(
        api.get("/email/public/v1/events?limit=1001").await.status,
        400
    );
    assert_eq!(
        api.get("/email/public/v1/events?offset=nonsense")
            .await
            .status,
        400
    );
    let unknown = api
        .post(
            "/_fake/email/events",
            json!({ "events": [{ "type": "SENT", "recipient": "a@x.co", "campaign_id": 1 }] }),
        )
        .await;
    assert_eq!(unknown.status, 400, "events belong to a campaign");
}

#[tokio::test]
async fn campaigns_page_by_id_and_count_their_events() {
    let (_fake, api) = setup(roomy()).await;
    let first = campaign(&api, "One").await;
    let second = campaign(&api, "Two").await;
    let events: Vec<Value> = ["SENT", "SENT", "DELIVERED", "OPEN"]
        .iter()
        .map(|kind| json!({ "type": kind, "recipient": "c@x.co", "campaign_id": second }))
        .collect();
    api.control("/_fake/email/events", json!({ "events": events }))
        .await;
    let page = api.get("/email/public/v1/campaigns/by-id?limit=1").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["campaigns"][0]["id"], first);
    assert_eq!(page.body["hasMore"], true);
    let offset = page.body["offset"].as_str().expect("offset");
    let next = api
        .get(&format!(
            "/email/public/v1/campaigns/by-id?limit=1&offset={offset}"
        ))
        .await;
    assert_eq!(next.body["campaigns"][0]["id"], second);
    assert_eq!(next.body["hasMore"], false);
    let detail = api
        .get(&format!("/email/public/v1/campaigns/{second}"))
        .await;
    assert_eq!(detail.body["name"], "Two");
    assert_eq!(detail.body["subject"], "About Two");
    assert_eq!(detail.body["type"], "BATCH_EMAIL");
    assert_eq!(
        detail.body["counters"],
        json!({ "sent": 2, "delivered": 1, "open": 1 })
    );
    assert_eq!(api.get("/email/public/v1/campaigns/1").await.status, 404);
}

#[tokio::test]
async fn the_subscription_timeline_groups_changes_newest_first() {
    let (_fake, api) = setup(roomy()).await;
    let id = campaign(&api, "News").await;
    let t = LONG_AGO_MS;
    api.control(
        "/_fake/email/events",
        json!({ "events": [{ "id": "bounce-1", "type": "BOUNCE", "recipient": "d@x.co", "campaign_id": id, "created_at": t }] }),
    )
    .await;
    let changes = json!({ "changes": [
        { "recipient": "d@x.co", "timestamp": t, "change": "BOUNCED", "change_type": "PORTAL_BOUNCE",
          "source": "SOURCE_NON_DELIVERY_REPORT", "caused_by_event_id": "bounce-1" },
        { "recipient": "e@x.co", "timestamp": t + 5, "change": "UNSUBSCRIBED", "change_type": "SUBSCRIPTION_STATUS", "subscription_id": 7 },
        { "recipient": "e@x.co", "timestamp": t + 5, "change": "UNSUBSCRIBED", "change_type": "PORTAL_STATUS" },
    ]});
    api.control("/_fake/email/subscriptions", changes).await;
    let page = api
        .get(&format!(
            "/email/public/v1/subscriptions/timeline?startTimestamp={t}&limit=1"
        ))
        .await;
    assert_eq!(page.status, 200);
    let item = &page.body["timeline"][0];
    assert_eq!(item["recipient"], "e@x.co");
    assert_eq!(item["timestamp"], t + 5);
    assert_eq!(item["changes"].as_array().map(Vec::len), Some(2));
    assert_eq!(item["changes"][0]["subscriptionId"], 7);
    assert_eq!(page.body["hasMore"], true);
    let offset = page.body["offset"].as_str().expect("offset");
    let next = api
        .get(&format!(
            "/email/public/v1/subscriptions/timeline?startTimestamp={t}&offset={offset}"
        ))
        .await;
    let change = &next.body["timeline"][0]["changes"][0];
    assert_eq!(change["changeType"], "PORTAL_BOUNCE");
    assert_eq!(
        change["causedByEvent"],
        json!({ "id": "bounce-1", "created": t })
    );
    // HubSpot gives a change its own timestamp only when no event caused it.
    assert_eq!(change.get("timestamp"), None);
    assert_eq!(item["changes"][0]["timestamp"], t + 5);
    assert_eq!(next.body["hasMore"], false);
    let before = api
        .get(&format!(
            "/email/public/v1/subscriptions/timeline?endTimestamp={}",
            t - 1
        ))
        .await;
    assert_eq!(before.body["timeline"], json!([]));
}

#[tokio::test]
async fn timeline_snapshots_hold_the_state_after_each_item() {
    let (_fake, api) = setup(roomy()).await;
    let t = LONG_AGO_MS;
    let change = |at: i64, change: &str, change_type: &str| json!({ "recipient": "f@x.co", "timestamp": at, "change": change, "change_type": change_type });
    let changes = json!({ "changes": [
        change(t, "UNSUBSCRIBED", "PORTAL_STATUS"),
        change(t + 1, "BOUNCED", "PORTAL_BOUNCE"),
        change(t + 2, "SUBSCRIBED", "PORTAL_STATUS"),
        { "recipient": "g@x.co", "timestamp": t + 3, "change": "UNSUBSCRIBED",
          "change_type": "SUBSCRIPTION_STATUS", "subscription_id": 7 },
    ]});
    api.control("/_fake/email/subscriptions", changes).await;
    let plain = api
        .get(&format!(
            "/email/public/v1/subscriptions/timeline?startTimestamp={t}"
        ))
        .await;
    assert_eq!(plain.body["timeline"][0].get("snapshot"), None);
    let page = api
        .get(&format!(
            "/email/public/v1/subscriptions/timeline?startTimestamp={t}&includeSnapshots=true"
        ))
        .await;
    let snapshots: Vec<&Value> = page.body["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .map(|item| &item["snapshot"])
        .collect();
    // Newest first: g's own, then f resubscribed (still bounced), bounced, unsubscribed.
    assert_eq!(snapshots[0]["email"], "g@x.co");
    assert_eq!(snapshots[0]["subscribed"], true);
    assert_eq!(
        snapshots[0]["subscriptionStatuses"],
        json!([{ "id": 7, "subscribed": false }])
    );
    let f = |i: usize| {
        let s = snapshots[i];
        (
            s["status"].clone(),
            s["unsubscribeFromPortal"].clone(),
            s["bounced"].clone(),
        )
    };
    assert_eq!(f(1), (json!("subscribed"), json!(false), json!(true)));
    assert_eq!(f(2), (json!("unsubscribed"), json!(true), json!(true)));
    assert_eq!(f(3), (json!("unsubscribed"), json!(true), json!(false)));
}

#[tokio::test]
async fn forms_and_their_submissions_page_newest_first() {
    let (_fake, api) = setup(roomy()).await;
    let mut forms = Vec::new();
    for name in ["Signup", "Demo"] {
        let answer = api
            .control(
                "/_fake/forms",
                json!({ "name": name, "fields": ["email", "firstname"] }),
            )
            .await;
        forms.push(answer.body["id"].as_str().expect("id").to_string());
    }
    let first = api.get("/marketing/v3/forms?limit=1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.results().len(), 1);
    let fields = &first.results()[0]["fieldGroups"][0]["fields"];
    assert_eq!(fields[0]["name"], "email");
    let after = first.body["paging"]["next"]["after"]
        .as_str()
        .expect("after");
    let second = api
        .get(&format!("/marketing/v3/forms?limit=1&after={after}"))
        .await;
    let mut listed: Vec<String> = first.ids();
    listed.extend(second.ids());
    let mut expected = forms.clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(second.body.get("paging").is_none());

    let form = &forms[0];
    for (i, email) in ["f1@x.co", "f2@x.co", "f3@x.co"].iter().enumerate() {
        api.control(
            &format!("/_fake/forms/{form}/submissions"),
            json!({ "values": { "email": email }, "submitted_at": LONG_AGO_MS + i as i64, "page_url": "https://example.com/signup" }),
        )
        .await;
    }
    let path = format!("/form-integrations/v1/submissions/forms/{form}");
    let page = api.get(&format!("{path}?limit=2")).await;
    assert_eq!(page.status, 200);
    let emails = |a: &Answer| -> Vec<String> {
        a.results()
            .iter()
            .map(|r| {
                r["values"][0]["value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(emails(&page), ["f3@x.co", "f2@x.co"]);
    assert_eq!(page.results()[0]["submittedAt"], LONG_AGO_MS + 2);
    assert_eq!(page.results()[0]["pageUrl"], "https://example.com/signup");
    assert!(page.results()[0]["conversionId"].is_string());
    let after = page.body["paging"]["next"]["after"]
        .as_str()
        .expect("after");
    let rest = api.get(&format!("{path}?limit=2&after={after}")).await;
    assert_eq!(emails(&rest), ["f1@x.co"]);
    assert!(rest.body.get("paging").is_none());
    assert_eq!(api.get(&format!("{path}?limit=51")).await.status, 400);
    assert_eq!(
        api.get("/form-integrations/v1/submissions/forms/nope")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn v1_contacts_by_vid_carry_identity_profiles_and_merged_vids() {
    let (_fake, api) = setup(roomy()).await;
    let ids = api
        .contacts(&[
            ("p@x.co", json!({ "firstname": "Pat", "hs_additional_emails": "p2@x.co", "last_seen": "2024-05-01T10:00:00Z" })),
            ("q@x.co", json!({ "firstname": "Quin" })),
            ("r@x.co", json!({})),
        ])
        .await;
    let merged = api
        .post(
            "/crm/v3/objects/contacts/merge",
            json!({ "primaryObjectId": ids[0], "objectIdToMerge": ids[1] }),
        )
        .await;
    let new_id = merged.body["id"].as_str().expect("id").to_string();
    api.control(
        "/_fake/objects/contacts/archive",
        json!({ "ids": [ids[2]] }),
    )
    .await;
    let answer = api
        .get(&format!(
            "/contacts/v1/contact/vids/batch/?vid={}&vid={}&vid=424242",
            ids[1], ids[2]
        ))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let map = answer.body.as_object().expect("a map by vid");
    assert_eq!(
        map.keys().collect::<Vec<_>>(),
        [&new_id],
        "a merged vid answers its survivor, archived and unknown vids nothing"
    );
    let contact = &map[&new_id];
    assert_eq!(contact["canonical-vid"].to_string(), new_id);
    let merged_vids: Vec<String> = contact["merged-vids"]
        .as_array()
        .expect("merged")
        .iter()
        .map(Value::to_string)
        .collect();
    assert_eq!(merged_vids, [ids[0].clone(), ids[1].clone()]);
    assert_eq!(contact["properties"]["firstname"]["value"], "Pat");
    assert_eq!(
        contact["properties"]["last_seen"]["value"], "1714557600000",
        "v1 dates are epoch ms"
    );
    let profiles = contact["identity-profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 3, "its own and one per merged contact");
    let identities = profiles[0]["identities"].as_array().expect("identities");
    assert_eq!(identities[0]["type"], "EMAIL");
    assert_eq!(identities[0]["value"], "p@x.co");
    assert_eq!(identities[0]["is-primary"], true);
    let secondary: Vec<&str> = identities
        .iter()
        .filter(|i| i["is-secondary"] == true)
        .filter_map(|i| i["value"].as_str())
        .collect();
    assert_eq!(secondary, ["p2@x.co", "q@x.co"]);
    assert!(identities.iter().any(|i| i["type"] == "LEAD_GUID"));
    assert_eq!(profiles[2]["identities"][0]["value"], "q@x.co");
    let picked = api
        .get(&format!(
            "/contacts/v1/contact/vids/batch/?vid={new_id}&property=email"
        ))
        .await;
    let properties = picked.body[&new_id]["properties"]
        .as_object()
        .expect("properties");
    assert_eq!(properties.keys().collect::<Vec<_>>(), ["email"]);
    let many: String = (0..101).map(|i| format!("vid={i}&")).collect();
    assert_eq!(
        api.get(&format!("/contacts/v1/contact/vids/batch/?{many}"))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn read_endpoints_count_against_the_rolling_window_and_the_log() {
    let limits = RateLimits {
        max_per_interval: 4,
        interval: Duration::from_secs(600),
        daily_max: 1_000,
        search_per_second: 100,
    };
    let (fake, api) = setup(FakeConfig::default().with_limits(limits)).await;
    let id = campaign(&api, "Counted").await;
    for path in [
        "/email/public/v1/events".to_string(),
        format!("/email/public/v1/campaigns/{id}"),
        "/crm/v3/owners".to_string(),
        "/crm/v3/objects/contacts".to_string(),
    ] {
        assert_eq!(api.get(&path).await.status, 200, "{path}");
    }
    let limited = api.post("/crm/v3/lists/search", json!({})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["policyName"], "TEN_SECONDLY_ROLLING");
    // CRM search has its own per-second budget, apart from the window.
    assert_eq!(
        api.post("/crm/v3/objects/contacts/search", json!({}))
            .await
            .status,
        200
    );
    let state = fake.state();
    assert_eq!(
        state.requests_with_status("GET /email/public/v1/campaigns/{campaignId}", 200),
        1
    );
    assert_eq!(
        state.requests_with_status("POST /crm/v3/lists/search", 429),
        1
    );
    assert_eq!(state.total_requests, 6, "controls are not counted");
    assert_eq!(state.request_log[0].path, "/email/public/v1/events");
}

// ---------------------------------------------------------------------------------------------
// The generated portal

/// 2026-01-01T00:00:00Z: a fixed anchor, so generated times do not depend on the day.
const ANCHOR_MS: i64 = 1_767_225_600_000;

fn generated(seed: u64, sizes: &str) -> FakeConfig {
    FakeConfig {
        generated: Some(GeneratedPortal {
            seed,
            sizes: sizes.parse().expect("sizes"),
            anchor_ms: Some(ANCHOR_MS),
        }),
        ..roomy()
    }
}

/// The data parts of a state (not the request counters).
fn data(state: &FakeState) -> Value {
    json!({
        "objects": state.objects,
        "associations": state.associations,
        "lists": state.lists,
        "campaigns": state.email_campaigns,
        "events": state.email_events,
        "timeline": state.subscription_timeline,
        "forms": state.forms,
        "submissions": state.form_submissions,
    })
}

#[tokio::test]
async fn a_generated_portal_is_a_function_of_its_seed() {
    let sizes = "contacts=300,companies=30,deals=20,tickets=10,lists=3,email_events=400,forms=2,submissions=20,owners=2";
    let (one, api) = setup(generated(7, sizes)).await;
    let (two, _) = setup(generated(7, sizes)).await;
    let (other, _) = setup(generated(8, sizes)).await;
    let state = one.state();
    assert_eq!(data(&state), data(&two.state()), "same seed, same portal");
    assert_ne!(
        data(&state),
        data(&other.state()),
        "another seed, another portal"
    );

    assert_eq!(state.contacts().len(), 300);
    assert_eq!(state.companies().len(), 30);
    assert_eq!(state.objects_of("deals").len(), 20);
    assert_eq!(state.objects_of("tickets").len(), 10);
    let summary = one.generated().expect("generated");
    assert_eq!(
        summary.bulk_contacts, 30,
        "a tenth of the contacts, below 10,001"
    );
    let at_bulk = state
        .contacts()
        .iter()
        .filter(|c| c.updated_at == summary.bulk_ms)
        .count();
    assert_eq!(at_bulk, 30);
    assert!(
        state
            .contacts()
            .iter()
            .all(|c| c.created_at <= c.updated_at && c.updated_at < ANCHOR_MS)
    );
    let kinds: Vec<&str> = state
        .lists
        .iter()
        .map(|l| l.processing_type.as_str())
        .collect();
    assert_eq!(kinds, ["MANUAL", "SNAPSHOT", "DYNAMIC"]);
    assert!(state.lists.iter().all(|l| !l.members.is_empty()));
    assert_eq!(state.email_events.len(), 400);
    assert!(
        !state.subscription_timeline.is_empty(),
        "bounces and unsubscribes change subscriptions"
    );
    assert_eq!(
        state.form_submissions.values().map(Vec::len).sum::<usize>(),
        20
    );
    // Every contact belongs to a company, with the default and the primary link.
    let primary = state
        .associations
        .iter()
        .filter(|a| a.type_id == 1 && a.label.as_deref() == Some("Primary"))
        .count();
    assert_eq!(primary, 300);
    // The data is served like any other.
    let owners = api.get("/crm/v3/owners").await;
    assert_eq!(
        owners.results().len(),
        3,
        "the configured owner and two generated"
    );
    let events = api
        .get(&format!(
            "/email/public/v1/events?startTimestamp={}&limit=1000",
            ANCHOR_MS - 60 * 86_400_000
        ))
        .await;
    assert_eq!(events.body["events"].as_array().map(Vec::len), Some(400));
    let search = api
        .search(
            "contacts",
            json!({ "filterGroups": one_group(json!([filter("lastmodifieddate", "EQ", json!(summary.bulk_ms))])) }),
        )
        .await;
    assert_eq!(search.body["total"], 30);
}

#[tokio::test]
async fn more_than_10000_contacts_at_one_millisecond_drain_only_by_id() {
    let (fake, api) = setup(generated(1, "contacts=10050")).await;
    let summary = fake.generated().expect("generated");
    assert_eq!(summary.bulk_contacts, 10_001);
    let at_bulk = filter("lastmodifieddate", "EQ", json!(summary.bulk_ms));
    // Paging one query by `after` stops at the cap.
    let capped = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": one_group(json!([at_bulk.clone()])), "limit": 200, "after": "10000" }),
        )
        .await;
    assert_eq!(capped.status, 400);
    // Restarting the query from the last id seen drains the millisecond, each record once.
    let mut seen: Vec<u64> = Vec::new();
    let mut last = 0_u64;
    loop {
        let page = api
            .search(
                "contacts",
                json!({
                    "filterGroups": one_group(json!([at_bulk.clone(), filter("hs_object_id", "GT", json!(last))])),
                    "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
                    "limit": 200,
                }),
            )
            .await;
        let ids: Vec<u64> = page
            .ids()
            .iter()
            .map(|id| id.parse().expect("id"))
            .collect();
        let Some(&max) = ids.last() else { break };
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        seen.extend(ids);
        last = max;
    }
    assert_eq!(seen.len(), 10_001);
}

#[tokio::test]
async fn the_generate_control_resets_to_a_generated_portal() {
    let (fake, api) = setup(roomy()).await;
    api.contacts(&[("gone@x.co", json!({}))]).await;
    let answer = api
        .control(
            "/_fake/generate",
            json!({ "seed": 3, "sizes": { "contacts": 12, "companies": 2, "bulk": 5 }, "anchor_ms": ANCHOR_MS }),
        )
        .await;
    assert_eq!(answer.body["generated"]["bulkContacts"], 5);
    assert!(answer.body["elapsedMs"].is_u64());
    assert_eq!(fake.state().contacts().len(), 12, "the old data is gone");
    fake.reset();
    assert_eq!(
        fake.state().contacts().len(),
        12,
        "resets generate it again"
    );
}

#[tokio::test]
async fn the_binary_generates_a_portal_from_its_flags() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-hubspot"))
        .args([
            "--generate",
            "contacts=40,companies=4,bulk=6",
            "--seed",
            "5",
            "--anchor-ms",
            &ANCHOR_MS.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).await.expect("line");
    let base = line
        .trim()
        .strip_prefix("fake HubSpot listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    let api = Api {
        http: reqwest::Client::new(),
        base,
    };
    let page = api.get("/crm/v3/objects/contacts?limit=100").await;
    assert_eq!(page.results().len(), 40);
    // The report is read after the process ends, so a missing line fails instead of hanging.
    let mut stderr = child.stderr.take().expect("stderr");
    child.kill().await.expect("kill");
    let mut report = String::new();
    stderr.read_to_string(&mut report).await.expect("report");
    assert!(
        report.starts_with("generated ")
            && report.contains("40 contacts")
            && report.contains("6 contacts share"),
        "{report}"
    );
}
