//! The browser shell in a real headless Chromium (wasm-bindgen-test): conversion, injection and
//! its idempotence, a pre-existing `_hsq`, readiness and timeout.
#![cfg(target_arch = "wasm32")]
#![allow(missing_docs, clippy::unwrap_used)]

use hubspot_core::Value;
use hubspot_wasm::Instance;
use hubspot_wasm::convert::{read, to_js};
use hubspot_wasm::engine::{IS_LOADED, LOAD, PENDING_IDENTITY, SETTLED};
use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/js/tape.js")]
extern "C" {
    fn encode(value: &JsValue) -> String;
    #[wasm_bindgen(js_name = encodeEvent)]
    fn encode_event(event: &JsValue) -> String;
    #[wasm_bindgen(js_name = takeOps)]
    fn take_ops() -> Vec<f64>;
}

/// A JavaScript value through the tape, as `js/plugin.js` hands settings to the module.
fn to_value(value: &JsValue) -> Option<Value> {
    read(encode(value), take_ops())
}

/// `instance.call(event)` as `js/plugin.js` makes it.
fn call(d: &Instance, event: JsValue) {
    let text = encode_event(&event);
    d.call(text, take_ops());
}

fn js(src: &str) -> JsValue {
    Function::new_no_args(&format!("return ({src});"))
        .call0(&JsValue::NULL)
        .unwrap()
}

thread_local! {
    /// The `resolve` functions of `load` promises, with the address of their instance: what
    /// `js/plugin.js` keeps per instance until the engine signals `SETTLED`.
    static WAITING: RefCell<Vec<(usize, Function)>> = RefCell::default();
}

/// An instance whose signal function reaches it, as `js/plugin.js` makes one.
fn instance(settings: JsValue) -> Result<Rc<Instance>, JsValue> {
    let slot: Rc<RefCell<Weak<Instance>>> = Rc::default();
    let reach = slot.clone();
    let signal = Closure::<dyn Fn(u32, u32)>::new(move |code, arg| {
        let d = reach.borrow().clone();
        if code == SETTLED {
            let settled = WAITING.with_borrow_mut(|w| {
                let (settled, rest) = w.drain(..).partition(|(at, _)| *at == d.as_ptr() as usize);
                *w = rest;
                settled
            });
            for (_, resolve) in settled {
                resolve.call0(&JsValue::NULL).unwrap();
            }
        } else if let Some(d) = d.upgrade() {
            d.signal(code, arg);
        }
    });
    let text = encode(&settings);
    let d = Rc::new(Instance::new(
        text,
        take_ops(),
        signal.into_js_value().unchecked_into(),
    )?);
    *slot.borrow_mut() = Rc::downgrade(&d);
    Ok(d)
}

/// `load` as `js/plugin.js` calls it: a promise that resolves once the instance has settled.
fn load(d: &Instance) -> Promise {
    Promise::new(&mut |resolve, _| {
        WAITING.with_borrow_mut(|w| w.push((d as *const Instance as usize, resolve)));
        d.signal(LOAD, 0);
    })
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A clean page: no `_hsq`, no HubSpot tags.
fn clean() {
    js(
        "(() => { delete window._hsq; document.querySelectorAll('script[id^=hs-], script[data-test]').forEach(s => s.remove()); return 0 })()",
    );
}

async fn sleep(ms: i32) {
    let p = Promise::new(&mut |resolve, _| {
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms)
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

fn hsq() -> Array {
    Reflect::get(&web_sys::window().unwrap(), &"_hsq".into())
        .unwrap()
        .unchecked_into()
}

fn hsq_json() -> String {
    js("JSON.stringify(window._hsq)").as_string().unwrap()
}

/// A data: URL script standing in for HubSpot: patches `_hsq.push` (its readiness signal).
const READY_SCRIPT: &str = "data:text/javascript,window._hsq.push=function(c){return Array.prototype.push.call(window._hsq,c)}";

#[wasm_bindgen_test]
fn converts_dates_cycles_and_what_json_drops() {
    let v = js(
        "(() => { const o = {d: new Date(1600000000000), bad: new Date(NaN), u: undefined, f(){}, n: null, a: [1, undefined, 'x'], big: 10n, nested: {deep: true}}; o.self = o; Object.defineProperty(o, 'boom', {enumerable: true, get(){ throw new Error('getter') }}); return o })()",
    );
    let got = to_value(&v).unwrap();
    let m = got.as_object().unwrap();
    assert_eq!(m.get("d"), Some(&Value::Date(1_600_000_000_000.0)));
    assert_eq!(m.get("bad"), Some(&Value::Null));
    assert!(
        !m.contains_key("u")
            && !m.contains_key("f")
            && !m.contains_key("self")
            && !m.contains_key("boom")
    );
    assert_eq!(
        m.get("a"),
        Some(&Value::Array(vec![
            Value::Number(1.0),
            Value::Null,
            "x".into()
        ]))
    );
    assert_eq!(m.get("big"), Some(&Value::from("10")));
    assert!(to_value(&JsValue::UNDEFINED).is_none());
    // Back to JS: dates are Dates again.
    let back = to_js(&got);
    assert!(
        Reflect::get(&back, &"d".into())
            .unwrap()
            .is_instance_of::<js_sys::Date>()
    );
}

#[wasm_bindgen_test]
fn deep_nesting_is_cut_not_a_crash() {
    let v = js(
        "(() => { let o = {}; const root = o; for (let i = 0; i < 5000; i++) { o.n = {}; o = o.n } return root })()",
    );
    assert!(to_value(&v).is_some());
}

#[wasm_bindgen_test]
fn invalid_settings_throw_an_error_naming_the_setting() {
    for (settings, name) in [
        ("{}", "portalId"),
        ("{portalId: 'abc'}", "portalId"),
        ("{portalId: 1, consent: 'maybe'}", "consent"),
        ("'x'", "settings"),
    ] {
        let err = instance(js(settings)).err().unwrap();
        let msg = Reflect::get(&err, &"message".into())
            .unwrap()
            .as_string()
            .unwrap();
        assert!(err.is_instance_of::<js_sys::Error>(), "{settings}");
        assert!(msg.contains(name), "{settings}: {msg}");
    }
}

#[wasm_bindgen_test]
async fn injects_one_async_tag_with_nonce_and_keeps_an_existing_queue() {
    clean();
    js("(() => { window._hsq = [['setPath', '/hand-installed']]; return 0 })()");
    let before = hsq();
    let d = instance(js(
        "{portalId: '123', nonce: 'n0nce', trackingScriptUrl: 'data:text/javascript,0'}",
    ))
    .unwrap();
    let _ = load(&d);
    let tag: web_sys::HtmlScriptElement = document()
        .get_element_by_id("hs-script-loader")
        .unwrap()
        .unchecked_into();
    assert!(tag.r#async());
    assert_eq!(tag.nonce(), "n0nce");
    assert_eq!(tag.type_(), "text/javascript");
    assert!(Object::is(&hsq(), &before), "_hsq is never replaced");
    assert!(hsq_json().contains("/hand-installed"));
    // A second destination on the same page sees the tag and adds none.
    let d2 = instance(js("{portalId: '123'}")).unwrap();
    let _ = load(&d2);
    assert_eq!(
        js("document.querySelectorAll('script[id=hs-script-loader]').length").as_f64(),
        Some(1.0)
    );
    clean();
}

#[wasm_bindgen_test]
async fn eu_and_forms_urls() {
    clean();
    let d = instance(js(
        "{portalId: 42, enableEuropeanDataCenter: true, loadFormsSDK: true}",
    ))
    .unwrap();
    let _ = load(&d);
    let srcs = js("Array.from(document.scripts).map(s => s.src).join(' ')")
        .as_string()
        .unwrap();
    assert!(
        srcs.contains("https://js-eu1.hs-scripts.com/42.js"),
        "{srcs}"
    );
    assert!(
        srcs.contains("https://js-eu1.hsforms.net/forms/v2.js"),
        "{srcs}"
    );
    js(
        "(() => { document.querySelectorAll('script[src*=hsforms]').forEach(s => s.remove()); return 0 })()",
    );
    clean();
}

#[wasm_bindgen_test]
async fn becomes_ready_when_push_is_patched_and_flushes_in_order() {
    clean();
    let d = instance(js(&format!(
        "{{portalId: '123', trackingScriptUrl: '{READY_SCRIPT}'}}"
    )))
    .unwrap();
    let loaded = load(&d);
    call(
        &d,
        js("{type: 'identify', userId: 'u1', traits: {email: 'a@b.co'}}"),
    );
    call(
        &d,
        js("{type: 'page', context: {page: {path: '/x', search: '?y'}}}"),
    );
    assert!(
        hsq_json() == "[]",
        "nothing before the task ends: {}",
        hsq_json()
    );
    // The task ends now, as its zero timer would (signal 0, src/engine.rs): this test is about
    // calls made before HubSpot is ready, and once timers nest (earlier tests' sleeps) Chromium
    // clamps that timer to 4 ms, which a cached script's load can beat.
    d.signal(0, 0);
    JsFuture::from(loaded).await.unwrap();
    assert!(d.signal(IS_LOADED, 0));
    assert_eq!(
        hsq_json(),
        r#"[["identify",{"email":"a@b.co","id":"u1"}],["setPath","/x?y"]]"#
    );
    call(&d, js("{type: 'track', event: 'Clicked', properties: {}}"));
    sleep(10).await;
    assert!(
        hsq_json().ends_with(
            r#"["trackCustomBehavioralEvent",{"name":"pe123_clicked","properties":{}}]]"#
        ),
        "{}",
        hsq_json()
    );
    assert!(!d.signal(PENDING_IDENTITY, 0));
    clean();
}

#[wasm_bindgen_test]
async fn a_failing_script_settles_load_and_later_calls_are_harmless() {
    clean();
    let d = instance(js(
        "{portalId: '123', trackingScriptUrl: '/definitely-missing-hubspot.js'}",
    ))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    assert!(!d.signal(IS_LOADED, 0));
    call(&d, js("{type: 'track', event: 'x'}"));
    call(&d, js("null"));
    call(&d, js("'nonsense'"));
    sleep(10).await;
    assert_eq!(hsq_json(), "[]");
    clean();
}

#[wasm_bindgen_test]
async fn a_script_that_never_becomes_ready_times_out() {
    clean();
    let d = instance(js(
        "{portalId: '123', loadTimeoutMs: 300, trackingScriptUrl: 'data:text/javascript,0'}",
    ))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    assert!(!d.signal(IS_LOADED, 0));
    clean();
}

#[wasm_bindgen_test]
async fn consent_pending_injects_nothing_and_resolves_load() {
    clean();
    let d = instance(js(
        "{portalId: '123', consent: 'pending', trackingScriptUrl: 'data:text/javascript,0'}",
    ))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    assert!(document().get_element_by_id("hs-script-loader").is_none());
    assert!(d.set_consent("granted".into()).is_undefined());
    assert!(document().get_element_by_id("hs-script-loader").is_some());
    assert!(
        d.set_consent("perhaps".into())
            .is_instance_of::<js_sys::Error>()
    );
    clean();
}

/// A clean page and a loaded instance for portal 9 whose tracker is ready.
async fn ready_portal_9() -> Rc<Instance> {
    clean();
    let d = instance(js(&format!(
        "{{portalId: '9', trackingScriptUrl: '{READY_SCRIPT}'}}"
    )))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    d
}

#[wasm_bindgen_test]
async fn identify_and_track_after_load_reach_hsq() {
    let d = ready_portal_9().await;
    call(
        &d,
        js("{type: 'identify', userId: 'u9', traits: {email: 'c@d.co'}}"),
    );
    call(
        &d,
        js("{type: 'track', event: 'Signed Up', properties: {plan: 'pro'}}"),
    );
    sleep(10).await;
    let pushed = hsq_json();
    assert!(
        pushed.contains(r#"["identify",{"email":"c@d.co","id":"u9"}]"#),
        "{pushed}"
    );
    assert!(
        pushed.contains(r#"{"name":"pe9_signed_up","properties":{"plan":"pro"}}"#),
        "{pushed}"
    );
    clean();
}

#[wasm_bindgen_test]
async fn each_call_type_reaches_hsq_with_the_fields_its_mapping_reads() {
    let d = ready_portal_9().await;
    // The shell walks only what each type's mapping reads (js/tape.js encodeEvent): a page's
    // context.page, a track's context.traits (an email there identifies first).
    call(
        &d,
        js(
            "{type: 'page', anonymousId: 'a1', properties: {title: 'T'}, context: {page: {path: '/x', search: '?y'}, traits: {email: 'page@d.co'}}}",
        ),
    );
    call(
        &d,
        js(
            "{type: 'track', userId: 'u7', event: 'Clicked', properties: {n: 1}, context: {page: {path: '/ignored'}, traits: {email: 'ctx@d.co'}}}",
        ),
    );
    sleep(10).await;
    let pushed = hsq_json();
    let expected = r#"["setPath","/x?y"],["trackPageView"],["identify",{"email":"ctx@d.co","id":"u7"}],["trackCustomBehavioralEvent",{"name":"pe9_clicked","properties":{"n":1}}]"#;
    assert!(pushed.contains(expected), "{pushed}");
    assert!(!pushed.contains("page@d.co"), "{pushed}");
    clean();
}

#[wasm_bindgen_test]
async fn non_ascii_keys_and_fractions_use_the_pages_text_operations() {
    clean();
    let d = instance(js(&format!(
        "{{portalId: 9, loadTimeoutMs: ' 1.5e3 ', trackingScriptUrl: '{READY_SCRIPT}'}}"
    )))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    call(
        &d,
        js(
            "{type: 'track', event: 'Été Promo', properties: {'Prix Été': 1.5, 'ΣΊΣΥΦΟΣ': 1, list: [0.1, 2, 1e21, -0]}}",
        ),
    );
    sleep(10).await;
    let pushed = hsq_json();
    // JavaScript's toLowerCase (final sigma included) and String(n), not Rust's tables.
    assert!(
        pushed.contains(
            r#"{"name":"pe9_été_promo","properties":{"prix_été":1.5,"σίσυφος":1,"list":"0.1;2;1e+21;0"}}"#
        ),
        "{pushed}"
    );
    clean();
}

#[wasm_bindgen_test]
fn the_tape_round_trips_text_in_any_script_and_keeps_proto_as_data() {
    // Numbers with a fraction are written by the page's String(n); a destination installs it.
    hubspot_wasm::host::install_page_text();
    let src = r#"JSON.parse('{"ключ":"значение 🍱","a":"x","🍱":["é",1.5,-0,null,true,{"__proto__":{"polluted":1}}],"":"","z":"\\ud800 lone"}')"#;
    let v = js(src);
    let got = to_value(&v).unwrap();
    let m = got.as_object().unwrap();
    assert_eq!(m.get("ключ"), Some(&Value::from("значение 🍱")));
    assert_eq!(m.get("a"), Some(&Value::from("x")));
    assert_eq!(m.get(""), Some(&Value::from("")));
    // A lone surrogate cannot be UTF-8: it arrives as U+FFFD and shifts nothing after it.
    assert_eq!(m.get("z"), Some(&Value::from("\u{FFFD} lone")));
    let back = to_js(&got);
    let json = |v: &JsValue| String::from(js_sys::JSON::stringify(v).unwrap());
    assert_eq!(
        json(&back),
        r#"{"ключ":"значение 🍱","a":"x","🍱":["é",1.5,0,null,true,{"__proto__":{"polluted":1}}],"":"","z":"� lone"}"#
    );
    assert!(js("({}).polluted").is_undefined());
    // Sparse arrays and holes read as null, like JSON.
    let sparse = to_value(&js("[1,,3]")).unwrap();
    assert_eq!(
        sparse,
        Value::Array(vec![Value::Number(1.0), Value::Null, Value::Number(3.0)])
    );
}

#[wasm_bindgen_test]
async fn an_event_with_throwing_getters_still_arrives_without_those_fields() {
    clean();
    let d = instance(js(&format!(
        "{{portalId: '123', trackingScriptUrl: '{READY_SCRIPT}'}}"
    )))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    // A getter on the event itself and one inside context: only those fields are lost.
    call(
        &d,
        js(
            "{type: 'identify', userId: 'a@b.co', get traits() { throw new Error('no') }, context: {get page() { throw new Error('no') }}}",
        ),
    );
    call(
        &d,
        js(
            "{type: 'track', event: 'Clicked', properties: {n: 1}, context: {get page() { throw new Error('no') }}}",
        ),
    );
    sleep(10).await;
    assert_eq!(
        hsq_json(),
        r#"[["identify",{"email":"a@b.co","id":"a@b.co"}],["trackCustomBehavioralEvent",{"name":"pe123_clicked","properties":{"n":1}}]]"#
    );
    clean();
}

#[wasm_bindgen_test]
async fn re_arming_the_identify_flush_keeps_one_timer_and_flushes_once() {
    clean();
    // Count the page's live timers of identifyFlushMs' length (1,500 ms, used by nothing else).
    js("(() => {
        const set = window.setTimeout, clear = window.clearTimeout;
        const live = window.__flushTimers = new Set();
        window.setTimeout = function (f, ms, ...rest) {
            const id = set.call(window, (...a) => { live.delete(id); return f(...a); }, ms, ...rest);
            if (ms === 1500) live.add(id);
            return id;
        };
        window.clearTimeout = function (id) { live.delete(id); return clear.call(window, id); };
        window.__restoreTimers = () => { window.setTimeout = set; window.clearTimeout = clear; };
        return 0;
    })()");
    let d = instance(js(&format!(
        "{{portalId: '9', identifyFlushMs: 1500, trackingScriptUrl: '{READY_SCRIPT}'}}"
    )))
    .unwrap();
    JsFuture::from(load(&d)).await.unwrap();
    for i in 0..20 {
        call(
            &d,
            js(&format!(
                "{{type: 'identify', userId: 'u{i}', traits: {{email: 'u{i}@d.co'}}}}"
            )),
        );
        sleep(0).await;
    }
    let live = js("window.__flushTimers.size").as_f64();
    sleep(1700).await;
    let after = js("window.__flushTimers.size").as_f64();
    js("window.__restoreTimers()");
    assert_eq!(
        live,
        Some(1.0),
        "one identifyFlushMs timer, however often re-armed"
    );
    assert_eq!(after, Some(0.0));
    let flushes = js("window._hsq.filter(c => c[0] === 'trackPageView').length").as_f64();
    assert_eq!(flushes, Some(1.0), "{}", hsq_json());
    clean();
}

/// Bytes of the module's linear memory (it only grows: a leak shows as growth).
fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory
        .buffer()
        .unchecked_into::<js_sys::ArrayBuffer>()
        .byte_length()
        .into()
}

#[wasm_bindgen_test]
async fn thousands_of_calls_leave_the_wasm_memory_where_warm_up_left_it() {
    let d = ready_portal_9().await;
    // Each call's strings are allocated and freed in the wasm (the allocator: src/lib.rs): a
    // call that kept 50 bytes would grow the memory by a 64 KiB page every ~1,300 calls.
    let traits = "{email: 'u' + i + '@d.co', firstName: ' Ada ', plan: 'pro', seats: i, \
                  address: {city: 'Springfield', zip: '62701'}, tags: ['a', 'b'], \
                  createdAt: new Date(1700000000000 + i), 'Favorite Color': 'teal'}";
    let identify = Function::new_with_args(
        "i",
        &format!("return {{type: 'identify', userId: 'u' + i, traits: {traits}}}"),
    );
    let track = Function::new_with_args(
        "i",
        "return {type: 'track', event: 'Viewed ' + (i % 7), properties: {price: i / 3, sku: 'S-' + i}}",
    );
    let batch = |from: u32| {
        for i in from..from + 250 {
            call(&d, identify.call1(&JsValue::NULL, &i.into()).unwrap());
            call(&d, track.call1(&JsValue::NULL, &i.into()).unwrap());
        }
    };
    for b in 0..4 {
        batch(b * 250);
        sleep(0).await;
        js("window._hsq.length = 0");
    }
    let warm = wasm_memory_bytes();
    for b in 4..40 {
        batch(b * 250);
        sleep(0).await;
        js("window._hsq.length = 0");
    }
    let grown = wasm_memory_bytes() - warm;
    assert!(
        grown <= 65536.0,
        "9,000 identify + track pairs grew the wasm memory by {grown} bytes"
    );
    clean();
}
