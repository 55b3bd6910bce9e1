//! Core mapping throughput, natively: the work the browser module does per call once the value
//! has crossed the boundary (read the event, apply the ordering rules, map to `_hsq` commands),
//! for each call type and compatibility profile. Run: `cargo bench -p hubspot-core`.
//!
//! The events match the browser benchmark's (`bench/browser/`): identify with 30 traits (nested
//! address and company, an ISO date string, a Date, a key with a space), track with 15 properties.

use divan::{Bencher, counter::ItemsCount};
use hubspot_core::{Event, Existing, Input, Machine, Map, Settings, Value};

/// Counts allocations too: most of a call's cost in the browser is allocating and freeing.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

const PROFILES: [&str; 3] = ["default", "classic", "actions"];

fn obj(entries: Vec<(&str, Value)>) -> Value {
    Value::Object(entries.into_iter().collect::<Map>())
}

fn page_context() -> Value {
    obj(vec![(
        "page",
        obj(vec![
            ("path", "/pricing".into()),
            ("search", "?plan=pro".into()),
            ("url", "https://example.com/pricing?plan=pro".into()),
            ("title", "Pricing".into()),
            ("referrer", "https://google.com/".into()),
        ]),
    )])
}

fn identify(i: usize) -> Value {
    let mut traits = vec![
        ("email", Value::from(format!("user{i}@example.com"))),
        ("firstName", "Ada".into()),
        ("lastName", "Lovelace".into()),
        ("favorite color", "blue".into()),
        ("plan", "pro".into()),
        ("seats", Value::Number((i % 50) as f64)),
        ("active", Value::Bool(true)),
        ("trial", Value::Bool(false)),
        ("score", Value::Number(12.5)),
        ("createdAt", "2024-05-01T12:00:00.000Z".into()),
        ("lastSeen", Value::Date(1_700_000_000_000.0 + i as f64)),
        (
            "address",
            obj(vec![
                ("street", "1 Main St".into()),
                ("city", "Boston".into()),
                ("state", "MA".into()),
                ("postalCode", "02110".into()),
                ("country", "US".into()),
            ]),
        ),
        (
            "company",
            obj(vec![
                ("name", "Acme".into()),
                ("id", format!("c{}", i % 10).into()),
                ("industry", "Software".into()),
                ("employees", Value::Number(120.0)),
            ]),
        ),
        ("phone", "+1 555 0100".into()),
        ("title", "Engineer".into()),
        ("website", "https://example.com".into()),
    ];
    let fillers = [
        "a01", "a02", "a03", "a04", "a05", "a06", "a07", "a08", "a09", "a10", "a11", "a12", "a13",
        "a14",
    ];
    for (n, key) in fillers.into_iter().enumerate() {
        let v = if n % 2 == 0 {
            Value::from(format!("value {n}"))
        } else {
            Value::Number(n as f64)
        };
        traits.push((key, v));
    }
    obj(vec![
        ("type", "identify".into()),
        ("userId", format!("u{i}").into()),
        ("traits", obj(traits)),
        ("context", page_context()),
    ])
}

fn track(i: usize) -> Value {
    let properties = obj(vec![
        ("orderId", format!("o{i}").into()),
        ("total", Value::Number(99.5)),
        ("revenue", Value::Number(99.5)),
        ("currency", "USD".into()),
        ("coupon", "SPRING".into()),
        ("discount", Value::Number(5.0)),
        ("shipping", Value::Number(4.0)),
        ("tax", Value::Number(3.0)),
        ("products", Value::Number(2.0)),
        ("category", "Plans".into()),
        ("label", "annual".into()),
        ("value", Value::Number(i as f64)),
        ("gift wrap", Value::Bool(false)),
        ("note", "thanks".into()),
        ("step", Value::Number(3.0)),
    ]);
    obj(vec![
        ("type", "track".into()),
        ("event", "Order Completed".into()),
        ("properties", properties),
        ("context", page_context()),
    ])
}

fn page(i: usize) -> Value {
    obj(vec![
        ("type", "page".into()),
        ("name", "Pricing".into()),
        (
            "properties",
            obj(vec![("variant", format!("v{}", i % 3).into())]),
        ),
        ("context", page_context()),
    ])
}

/// A machine for `profile` whose tracker is ready, as after `load()`.
fn ready_machine(profile: &str) -> Machine {
    let settings = obj(vec![
        ("portalId", "123456".into()),
        ("compat", profile.into()),
    ]);
    let (settings, _) = Settings::from_value(&settings).expect("valid settings");
    let mut m = Machine::new(settings);
    m.handle(
        Input::Start {
            existing: Existing::None,
            forms_present: false,
        },
        0.0,
    );
    m.handle(Input::TrackerReady, 0.0);
    m
}

/// One call through the browser's path: read the event, run the rules, map, end the task.
fn run(bencher: Bencher, profile: &str, make: fn(usize) -> Value) {
    const N: usize = 1000;
    let mut machine = ready_machine(profile);
    let events: Vec<Value> = (0..N).map(make).collect();
    let mut i = 0;
    bencher
        .counter(ItemsCount::new(1usize))
        .with_inputs(|| {
            i = (i + 1) % N;
            events[i].clone()
        })
        .bench_local_values(|value| {
            let mut actions = machine.handle(Input::Call(Event::from_value(value)), 1.0);
            actions.extend(machine.handle(Input::TaskBoundary, 1.0));
            actions
        });
}

#[divan::bench(args = PROFILES)]
fn identify_30_traits(bencher: Bencher, profile: &str) {
    run(bencher, profile, identify);
}

#[divan::bench(args = PROFILES)]
fn track_15_properties(bencher: Bencher, profile: &str) {
    run(bencher, profile, track);
}

#[divan::bench(args = PROFILES)]
fn page_view(bencher: Bencher, profile: &str) {
    run(bencher, profile, page);
}
