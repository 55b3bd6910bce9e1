//! The fake's HubSpot rules, exercised over real HTTP with reqwest: one test per rule.

use std::time::{Duration, Instant};

use fake_hubspot::{
    AccessToken, DEFAULT_TOKEN, FakeConfig, FakeHandle, FaultKind, FaultRule, Faults, OAuthApp,
    PropertyDefinition, RateLimits,
};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// One answer: status, headers, body as JSON (`Null` when empty, a string when not JSON).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Property values were not valid: [...]` list, parsed from the message text.
    fn property_errors(&self) -> Vec<Value> {
        let message = self.body["message"].as_str().expect("message");
        let list = message
            .strip_prefix("Property values were not valid: ")
            .unwrap_or_else(|| panic!("not a property error: {message}"));
        serde_json::from_str(list).expect("JSON list inside the message")
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(fake: &FakeHandle) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        Self {
            http,
            base: fake.base_url.clone(),
            token: DEFAULT_TOKEN.into(),
        }
    }

    fn with_token(&self, token: &str) -> Self {
        Self {
            http: self.http.clone(),
            base: self.base.clone(),
            token: token.into(),
        }
    }

    async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.try_send(method, path, body).await.expect("request")
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

async fn setup(config: FakeConfig) -> (FakeHandle, Api) {
    let fake = fake_hubspot::start(config).await.expect("fake starts");
    let api = Api::new(&fake);
    (fake, api)
}

fn upsert_input(email: &str, props: Value) -> Value {
    json!({ "id": email, "idProperty": "email", "properties": props })
}

const UPSERT: &str = "/crm/v3/objects/contacts/batch/upsert";
const UPDATE: &str = "/crm/v3/objects/contacts/batch/update";
const EVENTS: &str = "/events/v3/send/batch";
const EVENT: &str = "pe123456_signed_up";

/// The id of the first result of a batch answer.
fn first_id(answer: &Answer) -> String {
    answer.body["results"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {:?}", answer.body))
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Batch rules

#[tokio::test]
async fn batch_over_100_inputs_is_400() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let inputs: Vec<Value> = (0..101)
        .map(|i| upsert_input(&format!("u{i}@x.co"), json!({})))
        .collect();
    let answer = api.post(UPSERT, json!({ "inputs": inputs })).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["category"], "VALIDATION_ERROR");
    let inputs: Vec<Value> = (0..100)
        .map(|i| upsert_input(&format!("u{i}@x.co"), json!({})))
        .collect();
    assert_eq!(
        api.post(UPSERT, json!({ "inputs": inputs })).await.status,
        200
    );
}

#[tokio::test]
async fn duplicate_ids_in_one_batch_are_400() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let answer = api
        .post(
            UPSERT,
            json!({ "inputs": [
                upsert_input("a@b.co", json!({ "firstname": "A" })),
                upsert_input("A@B.co", json!({ "lastname": "B" })),
            ]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body["message"],
        "Duplicate IDs found in batch input: [A@B.co]. IDs must be unique"
    );
    assert_eq!(answer.body["category"], "VALIDATION_ERROR");
    assert!(
        fake.state().contacts().is_empty(),
        "nothing of a rejected batch is stored"
    );
}

#[tokio::test]
async fn partial_failure_is_207_with_trace_ids() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let answer = api
        .post(
            UPSERT,
            json!({ "inputs": [
                { "id": "ok@x.co", "idProperty": "email", "properties": { "firstname": "Ok" }, "objectWriteTraceId": "t-ok" },
                { "id": "bad@x.co", "idProperty": "email", "properties": { "nope": "1" }, "objectWriteTraceId": "t-bad" },
            ]}),
        )
        .await;
    assert_eq!(answer.status, 207);
    assert_eq!(answer.body["status"], "COMPLETE");
    assert_eq!(answer.body["numErrors"], 1);
    let result = &answer.body["results"][0];
    assert_eq!(result["objectWriteTraceId"], "t-ok");
    assert_eq!(result["new"], true);
    assert_eq!(result["properties"]["email"], "ok@x.co");
    assert!(
        result["id"]
            .as_str()
            .is_some_and(|id| id.parse::<u64>().is_ok())
    );
    assert!(result["createdAt"].is_string() && result["updatedAt"].is_string());
    let error = &answer.body["errors"][0];
    assert_eq!(error["status"], "error");
    assert_eq!(error["category"], "VALIDATION_ERROR");
    assert_eq!(error["context"]["ids"], json!(["bad@x.co"]));
    assert_eq!(error["context"]["objectWriteTraceId"], json!(["t-bad"]));
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("PROPERTY_DOESNT_EXIST"))
    );
}

#[tokio::test]
async fn batch_with_every_input_invalid_is_400_with_the_first_error() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let answer = api
        .post(
            UPSERT,
            json!({ "inputs": [
                upsert_input("a@x.co", json!({ "birthday": "2024-01-01T10:00:00Z" })),
                upsert_input("b@x.co", json!({ "unknown": "x" })),
            ]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.property_errors()[0]["error"], "INVALID_DATE");
}

#[tokio::test]
async fn upsert_matches_secondary_emails_and_reports_new() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let first = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("main@x.co", json!({ "hs_additional_emails": "alt@x.co;other@x.co" }))] }),
        )
        .await;
    assert_eq!(first.status, 200);
    let id = first.body["results"][0]["id"].clone();
    let second = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("ALT@x.co", json!({ "firstname": "Al" }))] }),
        )
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body["results"][0]["id"], id);
    assert_eq!(second.body["results"][0]["new"], false);
    let state = fake.state();
    assert_eq!(state.contacts().len(), 1);
    let contact = state
        .find("contacts", "email", "main@x.co")
        .expect("contact");
    assert_eq!(contact.properties["firstname"], "Al");
}

// ---------------------------------------------------------------------------------------------
// Conflicts

#[tokio::test]
async fn taking_another_contacts_email_is_409_including_secondary_emails() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let seeded = api
        .post(
            UPSERT,
            json!({ "inputs": [
                upsert_input("p@x.co", json!({ "hs_additional_emails": "s@x.co" })),
                upsert_input("other@x.co", json!({})),
            ]}),
        )
        .await;
    assert_eq!(seeded.status, 200);
    let id_of = |email: &str| {
        fake.state()
            .find("contacts", "email", email)
            .expect("contact")
            .id
            .clone()
    };
    let (owner, other) = (id_of("p@x.co"), id_of("other@x.co"));
    let expected = format!("Contact already exists. Existing ID: {owner}");
    for email in ["p@x.co", "S@x.co"] {
        let taken = api
            .post(
                UPDATE,
                json!({ "inputs": [{ "id": other, "properties": { "email": email } }] }),
            )
            .await;
        assert_eq!(taken.status, 409, "{email}");
        assert_eq!(taken.body["category"], "CONFLICT");
        assert_eq!(taken.body["message"], expected);
    }
    // Upsert updates the same way.
    let upserted = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("other@x.co", json!({ "email": "s@x.co" }))] }),
        )
        .await;
    assert_eq!(upserted.status, 409);
    assert_eq!(upserted.body["message"], expected);
    // Beside other inputs, the conflict is that input's error.
    let mixed = api
        .post(
            UPDATE,
            json!({ "inputs": [
                { "id": owner, "properties": { "firstname": "P" } },
                { "id": other, "properties": { "email": "s@x.co" } },
            ]}),
        )
        .await;
    assert_eq!(mixed.status, 207);
    assert_eq!(mixed.body["errors"][0]["category"], "CONFLICT");
    assert_eq!(mixed.body["errors"][0]["context"]["ids"], json!([other]));
    let state = fake.state();
    assert_eq!(state.contacts().len(), 2);
    assert!(
        state.find("contacts", "email", "other@x.co").is_some(),
        "a conflicting write changes nothing"
    );
}

#[tokio::test]
async fn unique_company_property_conflicts_and_serves_as_upsert_key() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let property = api
        .post(
            "/crm/v3/properties/companies",
            json!({ "name": "segment_group_id", "label": "Segment group", "type": "string",
                    "fieldType": "text", "groupName": "companyinformation",
                    "hasUniqueValue": true, "hidden": true }),
        )
        .await;
    assert_eq!(property.status, 201);
    let path = "/crm/v3/objects/companies/batch/upsert";
    let input = |name: &str| json!({ "inputs": [{ "id": "g1", "idProperty": "segment_group_id", "properties": { "name": name } }] });
    assert_eq!(
        api.post(path, input("Acme")).await.body["results"][0]["new"],
        true
    );
    assert_eq!(
        api.post(path, input("Acme Inc")).await.body["results"][0]["new"],
        false
    );
    let other = api
        .post(
            path,
            json!({ "inputs": [{ "id": "g2", "idProperty": "segment_group_id", "properties": { "name": "Other" } }] }),
        )
        .await;
    let other_id = first_id(&other);
    let dup = api
        .post(
            "/crm/v3/objects/companies/batch/update",
            json!({ "inputs": [{ "id": other_id, "properties": { "segment_group_id": "g1" } }] }),
        )
        .await;
    assert_eq!(dup.status, 409);
    assert_eq!(dup.body["category"], "CONFLICT");
    let state = fake.state();
    let acme = state
        .find("companies", "segment_group_id", "g1")
        .expect("g1");
    assert_eq!(
        dup.body["message"],
        format!(
            "Company with segment_group_id=g1 already exists. Existing ID: {}",
            acme.id
        )
    );
    assert_eq!(acme.properties["name"], "Acme Inc");
    assert_eq!(state.companies().len(), 2);
    assert!(state.find("companies", "segment_group_id", "g2").is_some());
    // A non-unique property cannot be an idProperty.
    let bad = api
        .post(
            path,
            json!({ "inputs": [{ "id": "x", "idProperty": "name", "properties": {} }] }),
        )
        .await;
    assert_eq!(bad.status, 400);
}

// ---------------------------------------------------------------------------------------------
// Property validation and values

#[tokio::test]
async fn invalid_property_values_are_listed_as_json_inside_the_message() {
    let (fake, api) = setup(FakeConfig::default()).await;
    api.post(
        UPSERT,
        json!({ "inputs": [upsert_input("v@x.co", json!({}))] }),
    )
    .await;
    let id = fake.state().contacts()[0].id.clone();
    let answer = api
        .post(
            UPDATE,
            json!({ "inputs": [{ "id": id, "properties": {
                "email": "not-an-email",
                "foo": "bar",
                "birthday": 1_557_926_325_000_i64,
                "score": "lots",
                "lifecyclestage": "champion",
                "vip": "maybe",
            }}]}),
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["category"], "VALIDATION_ERROR");
    assert_eq!(answer.body["status"], "error");
    let errors = answer.property_errors();
    let by_name = |name: &str| {
        errors
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no error for {name}: {errors:?}"))
            .clone()
    };
    assert_eq!(by_name("foo")["error"], "PROPERTY_DOESNT_EXIST");
    assert_eq!(by_name("foo")["isValid"], false);
    assert_eq!(by_name("email")["error"], "INVALID_EMAIL");
    let date = by_name("birthday");
    assert_eq!(date["error"], "INVALID_DATE");
    assert_eq!(
        date["message"],
        "1557926325000 is at 13:18:45.000 UTC, not midnight!"
    );
    assert_eq!(by_name("score")["error"], "INVALID_DECIMAL");
    assert_eq!(by_name("lifecyclestage")["error"], "INVALID_OPTION");
    assert_eq!(by_name("vip")["error"], "INVALID_OPTION");
    assert_eq!(errors.len(), 6);
}

#[tokio::test]
async fn values_may_be_strings_numbers_or_booleans_and_are_stored_normalized() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let answer = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input(" Mixed@Case.CO ", json!({
                "score": 42,
                "vip": true,
                "birthday": 1_704_067_200_000_i64,
                "last_seen": 1_704_067_200_123_i64,
                "phone": 5_551_234,
                "lifecyclestage": null,
            }))]}),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let state = fake.state();
    let props = &state.contacts()[0].properties;
    assert_eq!(props["email"], "mixed@case.co");
    assert_eq!(props["score"], "42");
    assert_eq!(props["vip"], "true");
    assert_eq!(props["birthday"], "2024-01-01");
    assert_eq!(props["last_seen"], "2024-01-01T00:00:00.123Z");
    assert_eq!(props["phone"], "5551234");
    assert!(!props.contains_key("lifecyclestage"));
    let iso_date = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("d@x.co", json!({ "birthday": "2024-02-29" }))] }),
        )
        .await;
    assert_eq!(iso_date.status, 200);
    let state = fake.state();
    let stored = state.find("contacts", "email", "d@x.co").expect("d@x.co");
    assert_eq!(stored.properties["birthday"], "2024-02-29");
}

#[tokio::test]
async fn lifecycle_stage_never_moves_backwards_until_cleared() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let set = |stage: &'static str| json!({ "inputs": [upsert_input("l@x.co", json!({ "lifecyclestage": stage, "firstname": stage }))] });
    let stage = || {
        fake.state().contacts()[0]
            .properties
            .get("lifecyclestage")
            .cloned()
    };
    assert_eq!(api.post(UPSERT, set("customer")).await.status, 200);
    let backwards = api.post(UPSERT, set("lead")).await;
    assert_eq!(backwards.status, 200, "a backwards move is not an error");
    assert_eq!(stage().as_deref(), Some("customer"));
    // Other properties of the same write still apply.
    assert_eq!(fake.state().contacts()[0].properties["firstname"], "lead");
    assert_eq!(api.post(UPSERT, set("evangelist")).await.status, 200);
    assert_eq!(stage().as_deref(), Some("evangelist"));
    assert_eq!(api.post(UPSERT, set("")).await.status, 200);
    assert_eq!(stage(), None);
    assert_eq!(api.post(UPSERT, set("lead")).await.status, 200);
    assert_eq!(stage().as_deref(), Some("lead"));
}

// ---------------------------------------------------------------------------------------------
// Batch update and read, single read

#[tokio::test]
async fn update_by_email_and_single_read_with_selected_properties() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let created = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("one@x.co", json!({}))] }),
        )
        .await;
    let id = first_id(&created);
    let updated = api
        .post(
            UPDATE,
            json!({ "inputs": [{ "id": "ONE@x.co", "idProperty": "email", "properties": { "firstname": "Uno" } }] }),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["results"][0]["id"], id.as_str());
    let read = api
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties=firstname,city"
        ))
        .await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["properties"]["firstname"], "Uno");
    assert_eq!(read.body["properties"]["city"], Value::Null);
    assert_eq!(read.body["properties"]["hs_object_id"], id.as_str());
    let by_email = api
        .get("/crm/v3/objects/contacts/ONE@x.co?idProperty=email")
        .await;
    assert_eq!(by_email.status, 200);
    assert_eq!(by_email.body["id"], id.as_str());
    assert_eq!(by_email.body["properties"]["firstname"], "Uno");
    assert_eq!(api.get("/crm/v3/objects/contacts/424242").await.status, 404);
}

#[tokio::test]
async fn batch_update_and_read_report_missing_records() {
    let config = FakeConfig::default().with_property(
        "deals",
        PropertyDefinition::string("deal_key", "dealinformation").unique(),
    );
    let (_fake, api) = setup(config).await;
    let created = api
        .post(
            "/crm/v3/objects/deals/batch/upsert",
            json!({ "idProperty": "deal_key", "inputs": [
                { "id": "a", "properties": { "dealname": "A", "amount": "10.5" } },
                { "id": "b", "properties": { "dealname": "B", "amount": 20 } },
            ]}),
        )
        .await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let ids: Vec<String> = created.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let update = api
        .post(
            "/crm/v3/objects/deals/batch/update",
            json!({ "inputs": [
                { "id": ids[0], "properties": { "dealstage": "won" } },
                { "id": "777", "properties": { "dealstage": "won" }, "objectWriteTraceId": "gone" },
            ]}),
        )
        .await;
    assert_eq!(update.status, 207);
    assert_eq!(update.body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(
        update.body["errors"][0]["context"]["objectWriteTraceId"],
        json!(["gone"])
    );
    let all_missing = api
        .post(
            "/crm/v3/objects/deals/batch/update",
            json!({ "inputs": [{ "id": "777", "properties": { "dealstage": "won" } }] }),
        )
        .await;
    assert_eq!(all_missing.status, 404);
    assert_eq!(all_missing.body["category"], "OBJECT_NOT_FOUND");
    let read = api
        .post(
            "/crm/v3/objects/deals/batch/read",
            json!({ "inputs": [{ "id": ids[0] }, { "id": ids[1] }, { "id": "777" }], "properties": ["dealstage", "amount"] }),
        )
        .await;
    assert_eq!(read.status, 207);
    assert_eq!(read.body["results"].as_array().map(Vec::len), Some(2));
    assert_eq!(read.body["results"][0]["properties"]["dealstage"], "won");
    assert_eq!(read.body["results"][1]["properties"]["amount"], "20");
    assert_eq!(read.body["errors"][0]["context"]["ids"], json!(["777"]));
}

#[tokio::test]
async fn custom_object_types_use_the_properties_created_for_them() {
    let config = FakeConfig::default()
        .with_property("p_cars", PropertyDefinition::string("color", "cars"))
        .with_property("2-123", PropertyDefinition::string("key", "g").unique());
    let (fake, api) = setup(config).await;
    let path = "/crm/v3/objects/p_cars/batch/upsert";
    let input = json!({ "inputs": [{ "id": "VIN1", "idProperty": "vin", "properties": { "model": "T" } }] });
    assert_eq!(
        api.post(path, input.clone()).await.status,
        400,
        "no properties yet"
    );
    for def in [
        json!({ "name": "vin", "label": "VIN", "type": "string", "fieldType": "text", "groupName": "cars", "hasUniqueValue": true }),
        json!({ "name": "model", "label": "Model", "type": "string", "fieldType": "text", "groupName": "cars" }),
    ] {
        assert_eq!(api.post("/crm/v3/properties/p_cars", def).await.status, 201);
    }
    assert_eq!(api.post(path, input).await.status, 200);
    assert_eq!(
        fake.state().objects_of("p_cars")[0].properties["vin"],
        "VIN1"
    );
    let colored = api
        .post(
            path,
            json!({ "inputs": [{ "id": "VIN2", "idProperty": "vin", "properties": { "color": "red" } }] }),
        )
        .await;
    assert_eq!(colored.status, 200, "configured extra property");
    // Type ids are just other names.
    let other = api
        .post(
            "/crm/v3/objects/2-123/batch/upsert",
            json!({ "inputs": [{ "id": "k1", "idProperty": "key", "properties": {} }] }),
        )
        .await;
    assert_eq!(other.status, 200);
    assert_eq!(fake.state().objects_of("2-123").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Search

async fn seed_people(api: &Api) {
    let people = [
        ("ann@acme.com", "Ann", 10, "lead"),
        ("bob@acme.com", "Bob", 20, "customer"),
        ("cy@other.org", "Cy", 30, ""),
    ];
    let inputs: Vec<Value> = people
        .iter()
        .map(|(email, name, score, stage)| {
            upsert_input(email, json!({ "firstname": name, "score": score, "lifecyclestage": stage, "company": "Big Red Cars" }))
        })
        .collect();
    assert_eq!(
        api.post(UPSERT, json!({ "inputs": inputs })).await.status,
        200
    );
}

async fn search_names(api: &Api, filter_groups: Value) -> Vec<String> {
    let answer = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": filter_groups, "properties": ["firstname"], "limit": 100 }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            r["properties"]["firstname"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn filter(property: &str, operator: &str, value: Value) -> Value {
    json!({ "propertyName": property, "operator": operator, "value": value })
}

#[tokio::test]
async fn search_filters_combine_and_within_groups_or_across() {
    let (_fake, api) =
        setup(FakeConfig::default().with_limits(limits(100, 10_000, 1000, 100))).await;
    seed_people(&api).await;
    let one = |f: Value| json!([{ "filters": [f] }]);
    assert_eq!(
        search_names(&api, one(filter("email", "EQ", json!("BOB@acme.com")))).await,
        ["Bob"]
    );
    assert_eq!(
        search_names(&api, one(filter("firstname", "NEQ", json!("Bob")))).await,
        ["Ann", "Cy"]
    );
    let in_filter =
        json!({ "propertyName": "firstname", "operator": "IN", "values": ["Ann", "Cy"] });
    assert_eq!(search_names(&api, one(in_filter)).await, ["Ann", "Cy"]);
    assert_eq!(
        search_names(
            &api,
            one(filter("lifecyclestage", "HAS_PROPERTY", Value::Null))
        )
        .await,
        ["Ann", "Bob"]
    );
    let no_stage = json!({ "propertyName": "lifecyclestage", "operator": "NOT_HAS_PROPERTY" });
    assert_eq!(search_names(&api, one(no_stage)).await, ["Cy"]);
    assert_eq!(
        search_names(&api, one(filter("score", "GT", json!(10)))).await,
        ["Bob", "Cy"]
    );
    assert_eq!(
        search_names(&api, one(filter("score", "LTE", json!("20")))).await,
        ["Ann", "Bob"]
    );
    assert_eq!(
        search_names(&api, one(filter("score", "GTE", json!(30)))).await,
        ["Cy"]
    );
    assert_eq!(
        search_names(&api, one(filter("score", "LT", json!(10)))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        search_names(&api, one(filter("company", "CONTAINS_TOKEN", json!("red"))))
            .await
            .len(),
        3
    );
    assert_eq!(
        search_names(
            &api,
            one(filter("email", "CONTAINS_TOKEN", json!("*@acme.com")))
        )
        .await,
        ["Ann", "Bob"]
    );
    let and = json!([{ "filters": [filter("email", "CONTAINS_TOKEN", json!("*@acme.com")), filter("score", "GT", json!(15))] }]);
    assert_eq!(search_names(&api, and).await, ["Bob"]);
    let or = json!([
        { "filters": [filter("firstname", "EQ", json!("Ann"))] },
        { "filters": [filter("firstname", "EQ", json!("Cy"))] },
    ]);
    assert_eq!(search_names(&api, or).await, ["Ann", "Cy"]);
    // Paging with `after`.
    let page = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": [], "limit": 2 }),
        )
        .await;
    assert_eq!(page.body["total"], 3);
    assert_eq!(page.body["results"].as_array().map(Vec::len), Some(2));
    let after = page.body["paging"]["next"]["after"].clone();
    let rest = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "limit": 2, "after": after }),
        )
        .await;
    assert_eq!(rest.body["results"].as_array().map(Vec::len), Some(1));
    assert!(rest.body.get("paging").is_none());
}

#[tokio::test]
async fn search_rejects_too_many_groups_or_filters() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let group = json!({ "filters": [filter("firstname", "EQ", json!("x"))] });
    let six = vec![group.clone(); 6];
    let answer = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": six }),
        )
        .await;
    assert_eq!(answer.status, 400);
    let many = vec![filter("firstname", "EQ", json!("x")); 9];
    let groups =
        json!([{ "filters": many.clone() }, { "filters": many.clone() }, { "filters": many }]);
    let answer = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": groups }),
        )
        .await;
    assert_eq!(answer.status, 400, "27 filters in total");
    let five = vec![group; 5];
    let ok = api
        .post(
            "/crm/v3/objects/contacts/search",
            json!({ "filterGroups": five }),
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn search_does_not_see_recent_writes() {
    let config = FakeConfig::default().with_search_lag(Duration::from_millis(300));
    let (_fake, api) = setup(config).await;
    let by_email = json!([{ "filters": [filter("email", "EQ", json!("lag@x.co"))] }]);
    api.post(
        UPSERT,
        json!({ "inputs": [upsert_input("lag@x.co", json!({ "firstname": "Old" }))] }),
    )
    .await;
    assert!(
        search_names(&api, by_email.clone()).await.is_empty(),
        "new record not indexed yet"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(search_names(&api, by_email.clone()).await, ["Old"]);
    api.post(
        UPSERT,
        json!({ "inputs": [upsert_input("lag@x.co", json!({ "firstname": "New" }))] }),
    )
    .await;
    assert_eq!(
        search_names(&api, by_email.clone()).await,
        ["Old"],
        "the index shows the old version"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(search_names(&api, by_email).await, ["New"]);
}

// ---------------------------------------------------------------------------------------------
// Properties API

#[tokio::test]
async fn properties_api_lists_creates_and_conflicts() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let list = api.get("/crm/v3/properties/contacts").await;
    assert_eq!(list.status, 200);
    let results = list.body["results"].as_array().expect("results");
    let stage = results
        .iter()
        .find(|p| p["name"] == "lifecyclestage")
        .expect("lifecyclestage");
    let options: Vec<&str> = stage["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert_eq!(options, fake_hubspot::LIFECYCLE_STAGES);
    let birthday = results
        .iter()
        .find(|p| p["name"] == "birthday")
        .expect("birthday");
    assert_eq!(birthday["type"], "date");
    for field in [
        "label",
        "fieldType",
        "groupName",
        "hasUniqueValue",
        "hidden",
    ] {
        assert!(birthday.get(field).is_some(), "missing {field}");
    }
    let def = json!({ "name": "plan", "label": "Plan", "type": "enumeration", "fieldType": "select",
                      "groupName": "contactinformation",
                      "options": [{ "label": "Free", "value": "free" }, { "label": "Pro", "value": "pro" }] });
    assert_eq!(
        api.post("/crm/v3/properties/contacts", def.clone())
            .await
            .status,
        201
    );
    let again = api.post("/crm/v3/properties/contacts", def).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["category"], "CONFLICT");
    assert_eq!(
        api.get("/crm/v3/properties/contacts/plan").await.body["type"],
        "enumeration"
    );
    let bad = api
        .post(
            "/crm/v3/properties/contacts",
            json!({ "name": "x", "label": "X", "type": "string" }),
        )
        .await;
    assert_eq!(bad.status, 400, "fieldType and groupName are required");
    let value = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("p@x.co", json!({ "plan": "gold" }))] }),
        )
        .await;
    assert_eq!(value.property_errors()[0]["error"], "INVALID_OPTION");
}

#[tokio::test]
async fn property_groups_and_the_custom_property_limit() {
    let config = FakeConfig {
        custom_property_limit: 2,
        ..FakeConfig::default()
    }
    .with_property(
        "contacts",
        PropertyDefinition::string("plan", "contactinformation"),
    );
    let (_fake, api) = setup(config).await;
    let usage = |answer: &Answer| {
        answer.body["byObjectType"]
            .as_array()
            .expect("byObjectType")
            .iter()
            .find(|t| t["objectTypeId"] == "0-1")
            .map(|t| (t["usage"].clone(), t["limit"].clone()))
            .expect("contacts")
    };
    let limits = api.get("/crm/v3/limits/custom-properties").await;
    assert_eq!(usage(&limits), (json!(1), json!(2)), "{:?}", limits.body);
    let checkbox = |name: &str, group: &str| json!({ "name": name, "label": name, "type": "bool", "fieldType": "booleancheckbox", "groupName": group });
    let no_group = api
        .post(
            "/crm/v3/properties/contacts",
            checkbox("vip_2", "audiences"),
        )
        .await;
    assert_eq!(no_group.status, 400, "{:?}", no_group.body);
    let group = json!({ "name": "audiences", "label": "Audiences" });
    assert_eq!(
        api.post("/crm/v3/properties/contacts/groups", group.clone())
            .await
            .status,
        201
    );
    assert_eq!(
        api.post("/crm/v3/properties/contacts/groups", group)
            .await
            .status,
        409
    );
    assert!(
        api.get("/crm/v3/properties/contacts/groups").await.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .any(|g| g["name"] == "audiences")
    );
    let made = api
        .post(
            "/crm/v3/properties/contacts",
            checkbox("vip_2", "audiences"),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(made.body["fieldType"], "booleancheckbox");
    let full = api
        .post(
            "/crm/v3/properties/contacts",
            checkbox("vip_3", "audiences"),
        )
        .await;
    assert_eq!(full.status, 400);
    assert!(
        full.body["message"]
            .as_str()
            .expect("message")
            .contains("limit of 2"),
        "{:?}",
        full.body
    );
    let limits = api.get("/crm/v3/limits/custom-properties").await;
    assert_eq!(usage(&limits), (json!(2), json!(2)));
    assert_eq!(limits.body["overallUsage"], 2);
}

#[tokio::test]
async fn lists_are_created_and_edited_in_one_call() {
    let (_fake, api) = setup(FakeConfig::default()).await;
    let made = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("a@x.co", json!({})), upsert_input("b@x.co", json!({}))] }),
        )
        .await;
    let ids: Vec<String> = made.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    let list = json!({ "name": "vip", "objectTypeId": "0-1", "processingType": "MANUAL" });
    let created = api.post("/crm/v3/lists", list.clone()).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    let id = created.body["list"]["listId"]
        .as_str()
        .expect("listId")
        .to_owned();
    assert_eq!(api.post("/crm/v3/lists", list).await.status, 409);
    let path = format!("/crm/v3/lists/{id}/memberships/add-and-remove");
    let edit = |add: Vec<&str>, remove: Vec<&str>| {
        let body = json!({ "recordIdsToAdd": add, "recordIdsToRemove": remove });
        api.send(Method::PUT, &path, Some(body))
    };
    let first = edit(vec![&ids[0], &ids[1], "999999"], vec![]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["recordsIdsAdded"], json!([ids[0], ids[1]]));
    assert_eq!(first.body["recordIdsMissing"], json!(["999999"]));
    let second = edit(vec![], vec![&ids[0]]).await;
    assert_eq!(second.body["recordIdsRemoved"], json!([ids[0]]));
    let members = api.get(&format!("/crm/v3/lists/{id}/memberships")).await;
    assert_eq!(members.body["total"], 1);
    assert_eq!(members.body["results"][0]["recordId"], ids[1]);
}

// ---------------------------------------------------------------------------------------------
// Associations

#[tokio::test]
async fn associations_are_stored_and_need_existing_records() {
    let config = FakeConfig::default().with_property(
        "companies",
        PropertyDefinition::string("ext_id", "companyinformation").unique(),
    );
    let (fake, api) = setup(config).await;
    let contact = first_id(
        &api.post(
            UPSERT,
            json!({ "inputs": [upsert_input("c@x.co", json!({}))] }),
        )
        .await,
    );
    let company = first_id(
        &api.post(
            "/crm/v3/objects/companies/batch/upsert",
            json!({ "inputs": [{ "id": "co", "idProperty": "ext_id", "properties": { "name": "Co" } }] }),
        )
        .await,
    );
    let to_companies = "/crm/v4/associations/contacts/companies/batch/associate/default";
    let one = api
        .post(
            to_companies,
            json!({ "inputs": [{ "from": { "id": contact }, "to": { "id": company } }] }),
        )
        .await;
    assert_eq!(one.status, 200);
    let missing = api
        .post(
            to_companies,
            json!({ "inputs": [{ "from": { "id": contact }, "to": { "id": "9999" } }] }),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["category"], "OBJECT_NOT_FOUND");
    let batch = api
        .post(
            "/crm/v4/associations/companies/contacts/batch/associate/default",
            json!({ "inputs": [
                { "from": { "id": company }, "to": { "id": contact } },
                { "from": { "id": company }, "to": { "id": "9999" } },
            ]}),
        )
        .await;
    assert_eq!(batch.status, 207);
    let state = fake.state();
    assert_eq!(state.associations.len(), 2);
    let pair = |from: &str, to: &str| {
        state
            .associations
            .iter()
            .any(|a| a.from_type == from && a.to_type == to && a.from_id != a.to_id)
    };
    assert!(pair("contacts", "companies") && pair("companies", "contacts"));
    let listed = api
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(listed.body["results"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------------
// Events

/// A `/events/v3/send/batch` body carrying one event.
fn one_event(event: Value) -> Value {
    json!({ "inputs": [event] })
}

fn event(uuid: &str, props: Value) -> Value {
    json!({ "eventName": EVENT, "email": "alt@x.co", "uuid": uuid, "occurredAt": "2024-05-01T10:00:00Z", "properties": props })
}

#[tokio::test]
async fn events_follow_definitions_limits_and_uuid_dedupe() {
    let props: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let prop_refs: Vec<&str> = props.iter().map(String::as_str).collect();
    let config = FakeConfig::default().with_event(EVENT, &prop_refs);
    let (fake, api) = setup(config).await;
    api.post(UPSERT, json!({ "inputs": [upsert_input("main@x.co", json!({ "hs_additional_emails": "alt@x.co" }))] }))
        .await;
    let sent = api
        .post(
            EVENTS,
            one_event(event("u1", json!({ "p1": "a", "p2": 2 }))),
        )
        .await;
    assert_eq!(sent.status, 204);
    assert!(
        sent.header("x-hubspot-ratelimit-max").is_none(),
        "events are exempt"
    );
    let repeat = api
        .post(EVENTS, one_event(event("u1", json!({ "p1": "a" }))))
        .await;
    assert_eq!(repeat.status, 204, "a known uuid is accepted");
    let unknown_event = api
        .post(
            EVENTS,
            one_event(json!({ "eventName": "pe123456_nope", "email": "a@x.co" })),
        )
        .await;
    assert_eq!(unknown_event.status, 400);
    let unknown_prop = api
        .post(EVENTS, one_event(event("u2", json!({ "zzz": 1 }))))
        .await;
    assert_eq!(unknown_prop.status, 400);
    let fifty_one: serde_json::Map<String, Value> = props
        .iter()
        .take(51)
        .map(|p| (p.clone(), json!("v")))
        .collect();
    let too_many = api
        .post(EVENTS, one_event(event("u3", Value::Object(fifty_one))))
        .await;
    assert_eq!(too_many.status, 400);
    let fifty: serde_json::Map<String, Value> = props
        .iter()
        .take(50)
        .map(|p| (p.clone(), json!("v")))
        .collect();
    assert_eq!(
        api.post(EVENTS, one_event(event("u4", Value::Object(fifty))))
            .await
            .status,
        204
    );
    // Batch: all or nothing, uuids deduplicated, at most 500.
    let bad_batch = api
        .post(
            EVENTS,
            json!({ "inputs": [event("b1", json!({})), event("b2", json!({ "zzz": 1 }))] }),
        )
        .await;
    assert_eq!(bad_batch.status, 400);
    let batch = api
        .post(EVENTS, json!({ "inputs": [event("b1", json!({})), event("u1", json!({})), event("b1", json!({}))] }))
        .await;
    assert_eq!(batch.status, 204);
    let big: Vec<Value> = (0..501)
        .map(|i| event(&format!("big{i}"), json!({})))
        .collect();
    assert_eq!(api.post(EVENTS, json!({ "inputs": big })).await.status, 400);
    let state = fake.state();
    let uuids: Vec<&str> = state
        .events
        .iter()
        .filter_map(|e| e.uuid.as_deref())
        .collect();
    assert_eq!(uuids, ["u1", "u4", "b1"]);
    assert_eq!(state.duplicate_events, 3);
    // Receipts keep every accepted event, repeats too; rejected requests leave none.
    let receipts: Vec<&str> = state
        .event_receipts
        .iter()
        .filter_map(|e| e.uuid.as_deref())
        .collect();
    assert_eq!(receipts[receipts.len() - 3..], ["b1", "u1", "b1"]);
    assert_eq!(
        state.event_receipts.len() as u64,
        state.events.len() as u64 + state.duplicate_events
    );
    let contact = state
        .find("contacts", "email", "main@x.co")
        .expect("contact");
    assert_eq!(
        state.events[0].contact_id.as_deref(),
        Some(contact.id.as_str())
    );
    assert_eq!(state.events[0].properties["p2"], json!(2));
    assert_eq!(
        state.events[0].occurred_at.as_deref(),
        Some("2024-05-01T10:00:00Z")
    );
}

#[tokio::test]
async fn event_definitions_can_be_created_and_read() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let created = api
        .post(
            "/events/v3/event-definitions",
            json!({ "label": "Signed up", "name": "signed_up", "propertyDefinitions": [{ "name": "plan", "label": "Plan", "type": "string" }] }),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["fullyQualifiedName"], EVENT);
    let read = api.get("/events/v3/event-definitions/signed_up").await;
    assert_eq!(read.body["properties"][0]["name"], "plan");
    let sent = api
        .post(
            EVENTS,
            one_event(
                json!({ "eventName": EVENT, "objectId": "1", "properties": { "plan": "pro" } }),
            ),
        )
        .await;
    assert_eq!(sent.status, 204);
    assert_eq!(fake.state().events[0].contact_id, None, "no contact 1");
}

// ---------------------------------------------------------------------------------------------
// Auth, scopes, plan

#[tokio::test]
async fn tokens_missing_unknown_or_expired_are_401_and_refresh_issues_a_new_one() {
    let config = FakeConfig {
        oauth: Some(OAuthApp {
            access_token_lifetime: Duration::from_millis(300),
            ..OAuthApp::default()
        }),
        ..FakeConfig::default()
    }
    .with_token(AccessToken::new("old").expiring_at(Instant::now()));
    let (fake, api) = setup(config).await;
    let path = "/crm/v3/properties/contacts";
    let unknown = api.with_token("who").get(path).await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.body["category"], "INVALID_AUTHENTICATION");
    let missing = api
        .http
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .expect("request");
    assert_eq!(missing.status().as_u16(), 401);
    let expired = api.with_token("old").get(path).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.body["category"], "EXPIRED_AUTHENTICATION");
    assert_eq!(expired.body["status"], "error");
    assert!(
        expired.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The OAuth token used to make this call expired"))
    );
    let good = [
        ("grant_type", "refresh_token"),
        ("client_id", "fake-client-id"),
        ("client_secret", "fake-client-secret"),
        ("refresh_token", "fake-refresh-token"),
    ];
    let refreshed = api.form("/oauth/v1/token", &good).await;
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body["expires_in"], 0, "300 ms rounds down to 0 s");
    assert_eq!(refreshed.body["refresh_token"], "fake-refresh-token");
    let token = refreshed.body["access_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(api.with_token(&token).get(path).await.status, 200);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        api.with_token(&token).get(path).await.body["category"],
        "EXPIRED_AUTHENTICATION"
    );
    let mut bad = good;
    bad[3] = ("refresh_token", "stolen");
    let rejected = api.form("/oauth/v1/token", &bad).await;
    assert_eq!(rejected.status, 400);
    assert_eq!(rejected.body["status"], "BAD_REFRESH_TOKEN");
    bad[3] = good[3];
    bad[2] = ("client_secret", "wrong");
    assert_eq!(api.form("/oauth/v1/token", &bad).await.status, 400);
    assert_eq!(fake.state().token_refreshes, 1);
}

#[tokio::test]
async fn missing_scope_or_plan_is_403() {
    let config = FakeConfig::default()
        .without_scope("crm.objects.companies.write")
        .with_custom_events(false)
        .with_event(EVENT, &[]);
    let (_fake, api) = setup(config).await;
    let denied = api
        .post(
            "/crm/v3/objects/companies/batch/upsert",
            json!({ "inputs": [] }),
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.body["category"], "MISSING_SCOPES");
    assert_eq!(
        denied.body["errors"][0]["context"]["requiredGranularScopes"],
        json!(["crm.objects.companies.write"])
    );
    assert_eq!(
        api.post("/crm/v3/objects/companies/search", json!({}))
            .await
            .status,
        200
    );
    let plan = api.post(EVENTS, one_event(event("u", json!({})))).await;
    assert_eq!(plan.status, 403);
    assert_eq!(plan.body["category"], "FORBIDDEN");
}

// ---------------------------------------------------------------------------------------------
// Rate limits

fn limits(max: u32, interval_ms: u64, daily: u64, search: u32) -> RateLimits {
    RateLimits {
        max_per_interval: max,
        interval: Duration::from_millis(interval_ms),
        daily_max: daily,
        search_per_second: search,
    }
}

#[tokio::test]
async fn ten_secondly_rolling_limit_is_429_with_headers_and_rolls() {
    let config = FakeConfig::default()
        .with_limits(limits(3, 300, 1000, 5))
        .with_event(EVENT, &[]);
    let (fake, api) = setup(config).await;
    let path = "/crm/v3/properties/contacts";
    let first = api.get(path).await;
    assert_eq!(first.header("x-hubspot-ratelimit-max"), Some("3"));
    assert_eq!(first.header("x-hubspot-ratelimit-remaining"), Some("2"));
    assert_eq!(
        first.header("x-hubspot-ratelimit-interval-milliseconds"),
        Some("300")
    );
    assert_eq!(first.header("x-hubspot-ratelimit-daily"), Some("1000"));
    assert_eq!(
        first.header("x-hubspot-ratelimit-daily-remaining"),
        Some("999")
    );
    api.get(path).await;
    assert_eq!(
        api.get(path).await.header("x-hubspot-ratelimit-remaining"),
        Some("0")
    );
    let limited = api.get(path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["status"], "error");
    assert_eq!(
        limited.body["message"],
        "You have reached your ten_secondly_rolling limit."
    );
    assert_eq!(limited.body["errorType"], "RATE_LIMIT");
    assert_eq!(limited.body["policyName"], "TEN_SECONDLY_ROLLING");
    assert!(
        limited.body["groupName"]
            .as_str()
            .is_some_and(|g| g.starts_with("publicapi:"))
    );
    assert!(limited.body["correlationId"].is_string());
    assert_eq!(limited.header("x-hubspot-ratelimit-remaining"), Some("0"));
    // Events are exempt even when the window is full.
    assert_eq!(
        api.post(EVENTS, one_event(event("e", json!({}))))
            .await
            .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(320)).await;
    assert_eq!(api.get(path).await.status, 200);
    let state = fake.state();
    assert_eq!(state.rate_limited, 1);
    assert_eq!(state.max_requests_in_window, 3);
    assert_eq!(
        state.requests_with_status("GET /crm/v3/properties/contacts", 429),
        1
    );
}

#[tokio::test]
async fn daily_limit_is_429_daily() {
    let (_fake, api) = setup(FakeConfig::default().with_limits(limits(100, 10_000, 2, 5))).await;
    let path = "/crm/v3/properties/contacts";
    assert_eq!(api.get(path).await.status, 200);
    assert_eq!(
        api.get(path)
            .await
            .header("x-hubspot-ratelimit-daily-remaining"),
        Some("0")
    );
    let limited = api.get(path).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["policyName"], "DAILY");
    assert_eq!(limited.body["errorType"], "RATE_LIMIT");
}

#[tokio::test]
async fn search_has_its_own_secondly_limit() {
    let (_fake, api) = setup(FakeConfig::default().with_limits(limits(3, 10_000, 1000, 4))).await;
    let search = "/crm/v3/objects/contacts/search";
    for _ in 0..4 {
        let ok = api.post(search, json!({})).await;
        assert_eq!(ok.status, 200);
        assert!(ok.header("x-hubspot-ratelimit-max").is_some());
    }
    let limited = api.post(search, json!({})).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.body["policyName"], "SECONDLY");
    // Searches do not use up the rolling window.
    assert_eq!(api.get("/crm/v3/properties/contacts").await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn injected_statuses_hit_the_next_matching_requests_only() {
    let (fake, api) = setup(FakeConfig::default()).await;
    fake.set_faults(
        Faults::one(FaultRule::next(2, FaultKind::Status(503)).on_path(UPSERT))
            .then(FaultRule::next(1, FaultKind::Status(500))),
    );
    let body = json!({ "inputs": [upsert_input("f@x.co", json!({}))] });
    let read = api.get("/crm/v3/properties/contacts").await;
    assert_eq!(read.status, 500, "second rule has no path filter");
    assert_eq!(read.body["category"], "INTERNAL_ERROR");
    let unavailable = api.post(UPSERT, body.clone()).await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(
        unavailable.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(api.post(UPSERT, body.clone()).await.status, 503);
    assert!(fake.state().contacts().is_empty());
    assert_eq!(api.post(UPSERT, body).await.status, 200);
    let state = fake.state();
    assert_eq!(state.faults_injected, 3);
    assert_eq!(
        state.requests_with_status(&format!("POST {UPSERT}"), 503),
        2
    );
}

#[tokio::test]
async fn delays_outlast_a_client_timeout() {
    let (fake, api) = setup(FakeConfig::default()).await;
    fake.add_fault(FaultRule::next(1, FaultKind::DelayMs(400)));
    let started = Instant::now();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .expect("client");
    let result = impatient
        .post(format!("{}{UPSERT}", api.base))
        .bearer_auth(DEFAULT_TOKEN)
        .json(&json!({ "inputs": [upsert_input("late@x.co", json!({}))] }))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < Duration::from_millis(400));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        fake.state().contacts().is_empty(),
        "the abandoned request was never processed"
    );
    fake.add_fault(FaultRule::next(1, FaultKind::DelayMs(150)));
    let started = Instant::now();
    assert_eq!(api.get("/crm/v3/properties/contacts").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn dropped_connections_get_no_answer() {
    let (fake, api) = setup(FakeConfig::default()).await;
    fake.set_faults(Faults::one(FaultRule::next(1, FaultKind::DropConnection)));
    let body = json!({ "inputs": [upsert_input("d@x.co", json!({}))] });
    let dropped = api.try_send(Method::POST, UPSERT, Some(body.clone())).await;
    let err = dropped.expect_err("no answer");
    assert!(!err.is_timeout(), "closed, not hung: {err:?}");
    assert!(fake.state().contacts().is_empty(), "not processed");
    assert_eq!(api.post(UPSERT, body).await.status, 200);
    let state = fake.state();
    assert_eq!(state.request_log[0].status, 0);
    assert_eq!(state.request_log[0].fault, Some(FaultKind::DropConnection));
}

#[tokio::test]
async fn drop_after_processing_lets_a_retry_prove_idempotency() {
    let (fake, api) = setup(FakeConfig::default().with_event(EVENT, &[])).await;
    fake.set_faults(
        Faults::one(FaultRule::next(1, FaultKind::DropAfterProcessing).on_path("/events"))
            .then(FaultRule::next(1, FaultKind::DropAfterProcessing).on_path(UPSERT)),
    );
    let ev = json!({ "inputs": [event("once", json!({}))] });
    assert!(
        api.try_send(Method::POST, EVENTS, Some(ev.clone()))
            .await
            .is_err()
    );
    assert_eq!(api.post(EVENTS, ev).await.status, 204);
    let contact = json!({ "inputs": [upsert_input("r@x.co", json!({ "firstname": "R" }))] });
    assert!(
        api.try_send(Method::POST, UPSERT, Some(contact.clone()))
            .await
            .is_err()
    );
    assert_eq!(
        fake.state().contacts().len(),
        1,
        "processed before the drop"
    );
    let retried = api.post(UPSERT, contact).await;
    assert_eq!(retried.body["results"][0]["new"], false);
    let state = fake.state();
    assert_eq!(state.events.len(), 1);
    assert_eq!(state.duplicate_events, 1);
    let receipts: Vec<_> = state
        .event_receipts
        .iter()
        .map(|e| e.uuid.as_deref())
        .collect();
    assert_eq!(
        receipts,
        [Some("once"), Some("once")],
        "the retry is on record"
    );
    assert_eq!(state.contacts().len(), 1);
}

#[tokio::test]
async fn empty_batch_result_is_a_silent_failure() {
    let (fake, api) = setup(FakeConfig::default()).await;
    fake.add_fault(FaultRule::next(1, FaultKind::EmptyBatchResult).on_path(UPSERT));
    let answer = api
        .post(
            UPSERT,
            json!({ "inputs": [upsert_input("s@x.co", json!({}))] }),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["results"], json!([]));
    assert_eq!(answer.body["errors"], json!([]));
    assert!(fake.state().contacts().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Control over HTTP, stats, the binary

#[tokio::test]
async fn control_endpoints_drive_the_fake_from_outside() {
    let (fake, api) = setup(FakeConfig::default()).await;
    let http = &api.http;
    let base = &api.base;
    let faults = json!({ "rules": [{ "path_prefix": "/crm/v3/properties", "count": 1, "kind": { "status": 502 } }] });
    let set = http
        .post(format!("{base}/_fake/faults"))
        .json(&faults)
        .send()
        .await
        .expect("set");
    assert_eq!(set.status().as_u16(), 200);
    assert_eq!(api.get("/crm/v3/properties/contacts").await.status, 502);
    let token = json!({ "token": "short", "expires_in_ms": 0 });
    let added = http
        .post(format!("{base}/_fake/tokens"))
        .json(&token)
        .send()
        .await
        .expect("token");
    assert_eq!(added.status().as_u16(), 204);
    let expired = api
        .with_token("short")
        .get("/crm/v3/properties/contacts")
        .await;
    assert_eq!(expired.body["category"], "EXPIRED_AUTHENTICATION");
    api.post(
        UPSERT,
        json!({ "inputs": [upsert_input("x@x.co", json!({}))] }),
    )
    .await;
    let state: fake_hubspot::FakeState = http
        .get(format!("{base}/_fake/state"))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state JSON");
    assert_eq!(state, fake.state());
    assert_eq!(state.contacts().len(), 1);
    assert_eq!(state.total_requests, 3, "control requests are not counted");
    let reset = http
        .post(format!("{base}/_fake/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status().as_u16(), 204);
    let state = fake.state();
    assert!(state.contacts().is_empty() && state.request_log.is_empty());
}

#[tokio::test]
async fn requests_are_counted_and_logged_with_batch_sizes() {
    let config = FakeConfig {
        request_log_cap: 2,
        ..FakeConfig::default()
    };
    let (fake, api) = setup(config).await;
    let inputs: Vec<Value> = (0..3)
        .map(|i| upsert_input(&format!("b{i}@x.co"), json!({})))
        .collect();
    api.post(UPSERT, json!({ "inputs": inputs })).await;
    let id = fake.state().contacts()[0].id.clone();
    let read_path = format!("/crm/v3/objects/0-1/{id}");
    api.get(&read_path).await;
    api.get("/crm/v3/properties/contacts").await;
    let state = fake.state();
    assert_eq!(state.requests_to(&format!("POST {UPSERT}")), 1);
    assert_eq!(
        state.requests_with_status("GET /crm/v3/objects/contacts/{id}", 200),
        1,
        "stats key: ids hidden, type aliases canonical"
    );
    assert_eq!(state.request_log.len(), 2);
    assert_eq!(state.request_log_dropped, 1);
    assert_eq!(state.request_log[0].method, "GET");
    assert_eq!(
        state.request_log[0].path, read_path,
        "the log keeps the path"
    );
    fake.reset();
    api.post(
        UPSERT,
        json!({ "inputs": [upsert_input("z@x.co", json!({}))] }),
    )
    .await;
    assert_eq!(fake.state().request_log[0].batch_size, Some(1));
    fake.shutdown().await;
    assert!(
        api.try_send(Method::GET, "/crm/v3/properties/contacts", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_fake-hubspot"))
        .args([
            "--port",
            "0",
            "--token",
            "bin-token",
            "--rate-max",
            "7",
            "--event",
            "pe1_x:a,b",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .expect("line");
    let base = line
        .trim()
        .strip_prefix("fake HubSpot listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"));
    let api = Api {
        http: reqwest::Client::new(),
        base,
        token: "bin-token".into(),
    };
    let answer = api.get("/crm/v3/properties/contacts").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-hubspot-ratelimit-max"), Some("7"));
    let sent = api
        .post(
            EVENTS,
            one_event(json!({ "eventName": "pe1_x", "utk": "u", "properties": { "a": 1 } })),
        )
        .await;
    assert_eq!(sent.status, 204);
    child.kill().await.expect("kill");
}
