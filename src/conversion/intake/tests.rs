use super::*;
use crate::config::{ActionConfig, Category, ConversionsConfig};

const SECRET: &str = "shop-secret-0123456789";

fn policy() -> ConversionPolicy {
    let mut c = ConversionsConfig::default();
    c.keys.insert("shop".into(), SECRET.into());
    c.keys
        .insert("network".into(), "network-secret-0123456789".into());
    c.txn_hash_key = "txn-hash-key-0123456789".into();
    for (n, cat) in [
        ("purchase", Category::Purchase),
        ("signup", Category::Signup),
    ] {
        c.actions.insert(
            n.into(),
            ActionConfig {
                category: cat,
                label: String::new(),
            },
        );
    }
    ConversionPolicy::from_config(&c).unwrap().unwrap()
}

/// A click id issued `ago` before `now`.
fn click_id(now: SystemTime, ago: Duration) -> String {
    let t = now - ago;
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        d.as_secs(),
        d.subsec_nanos(),
    ))
    .to_string()
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000)
}

fn cx(bearer: Option<&str>) -> Context<'_> {
    Context {
        bearer: bearer.map(str::as_bytes),
        now: now(),
        edge: "e1",
    }
}

fn refusal(r: Result<Vec<Conversion>, Refused>) -> Refusal {
    r.expect_err("refused").why
}

#[test]
fn a_postback_url_records_one_conversion_with_its_source_and_hashed_txn() {
    let id = click_id(now(), Duration::from_secs(3600));
    let q = format!("click_id={id}&event=purchase&value=12.50&currency=eur&txn=ORDER-1&key={SECRET}&consent=granted");
    let c = parse(&policy(), Body::Form(q.as_bytes()), &cx(None)).unwrap();
    assert_eq!(c.len(), 1);
    let c = &c[0];
    assert_eq!(
        (c.source.as_str(), c.event.as_str(), c.category.as_str()),
        ("shop", "purchase", "purchase")
    );
    assert_eq!((c.value.as_str(), c.currency.as_str()), ("12.5", "EUR"));
    assert_eq!(c.consent, "granted");
    assert_eq!(c.txn_hash, policy().txn_hash("ORDER-1"));
    let line = String::from_utf8(c.to_line()).unwrap();
    assert!(
        !line.contains("ORDER-1") && !line.contains(SECRET),
        "{line}"
    );
    assert_eq!(
        c.click_ts,
        crate::time::rfc3339_millis(now() - Duration::from_secs(3600)).to_string()
    );
}

#[test]
fn json_objects_and_arrays_read_numbers_as_written() {
    let id = click_id(now(), Duration::from_secs(60));
    let one = format!(r#"{{"click_id":"{id}","event":"signup","value":0.10,"currency":"USD"}}"#);
    let c = parse(&policy(), Body::Json(one.as_bytes()), &cx(Some(SECRET))).unwrap();
    assert_eq!(c[0].value, "0.1");
    assert_eq!(c[0].consent, "unspecified");
    let many = format!(
        r#"[{{"click_id":"{id}","event":"signup"}},{{"click_id":"{id}","event":"purchase","txn":"A1"}}]"#
    );
    let c = parse(&policy(), Body::Json(many.as_bytes()), &cx(Some(SECRET))).unwrap();
    assert_eq!(c.len(), 2);
    assert_ne!(c[0].conversion_id, c[1].conversion_id);
}

#[test]
fn repeats_share_a_conversion_id_and_differ_by_txn() {
    let id = click_id(now(), Duration::from_secs(60));
    let q = |txn: &str| format!("click_id={id}&event=purchase&txn={txn}&key={SECRET}");
    let p = policy();
    let a = parse(&p, Body::Form(q("A").as_bytes()), &cx(None)).unwrap();
    let b = parse(&p, Body::Form(q("A").as_bytes()), &cx(None)).unwrap();
    let c = parse(&p, Body::Form(q("B").as_bytes()), &cx(None)).unwrap();
    assert_eq!(a[0].conversion_id, b[0].conversion_id);
    assert_ne!(a[0].conversion_id, c[0].conversion_id);
}

#[test]
fn each_refusal_has_its_reason() {
    let p = policy();
    let id = click_id(now(), Duration::from_secs(60));
    let form = |q: &str| refusal(parse(&p, Body::Form(q.as_bytes()), &cx(None)));
    let k = format!("&key={SECRET}");
    assert_eq!(
        form(&format!("click_id={id}&event=purchase")),
        Refusal::Unauthorized
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&key=wrong-secret-0123456789"
        )),
        Refusal::Unauthorized
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&email=a@b.c{k}")),
        Refusal::UnknownField
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&event=signup{k}")),
        Refusal::DuplicateField
    );
    assert_eq!(form(&format!("event=purchase{k}")), Refusal::MissingField);
    assert_eq!(
        form(&format!("click_id=not-a-uuid&event=purchase{k}")),
        Refusal::BadClickId
    );
    let v4 = uuid::Uuid::new_v4();
    assert_eq!(
        form(&format!("click_id={v4}&event=purchase{k}")),
        Refusal::BadClickId
    );
    assert_eq!(
        form(&format!("click_id={id}&event=refund{k}")),
        Refusal::UnknownEvent
    );
    assert_eq!(
        form(&format!("click_id={id}&event=someone%40example.com{k}")),
        Refusal::PersonalData
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&txn=%2B44%2020%207946%200958{k}"
        )),
        Refusal::PersonalData
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&txn=jane.doe%40mail.example{k}"
        )),
        Refusal::PersonalData
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&time=yesterday{k}")),
        Refusal::BadTime
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&time=2030-01-01T00:00:00Z{k}"
        )),
        Refusal::BadTime
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&value=1e3&currency=EUR{k}"
        )),
        Refusal::BadValue
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&value=-1&currency=EUR{k}"
        )),
        Refusal::BadValue
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&value=10{k}")),
        Refusal::BadCurrency
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&currency=EUR{k}")),
        Refusal::BadCurrency
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&value=1&currency=EURO{k}"
        )),
        Refusal::BadCurrency
    );
    assert_eq!(
        form(&format!(
            "click_id={id}&event=purchase&txn={}{k}",
            "x".repeat(129)
        )),
        Refusal::BadTxn
    );
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&consent=maybe{k}")),
        Refusal::BadConsent
    );
    let old = click_id(now(), Duration::from_secs(31 * 86_400));
    assert_eq!(
        form(&format!("click_id={old}&event=purchase{k}")),
        Refusal::OutsideWindow
    );
    let before = crate::time::rfc3339_millis(now() - Duration::from_secs(120)).to_string();
    assert_eq!(
        form(&format!("click_id={id}&event=purchase&time={before}{k}")),
        Refusal::OutsideWindow
    );
    let json = |b: &str| refusal(parse(&p, Body::Json(b.as_bytes()), &cx(Some(SECRET))));
    assert_eq!(json("{not json"), Refusal::BadBody);
    assert_eq!(json("[]"), Refusal::BadBatch);
    assert_eq!(
        json(&format!(
            "[{}]",
            vec![format!(r#"{{"click_id":"{id}","event":"purchase"}}"#); 1001].join(",")
        )),
        Refusal::BadBatch
    );
    assert_eq!(
        json(&format!(
            r#"{{"click_id":"{id}","event":"purchase","value":true}}"#
        )),
        Refusal::BadBody
    );
    // One bad record refuses the array, and says which.
    let r = parse(
        &p,
        Body::Json(
            format!(
                r#"[{{"click_id":"{id}","event":"purchase"}},{{"click_id":"{id}","event":"nope"}}]"#
            )
            .as_bytes(),
        ),
        &cx(Some(SECRET)),
    );
    assert_eq!(
        r.unwrap_err(),
        Refused {
            why: Refusal::UnknownEvent,
            index: Some(1)
        }
    );
    // A header and a field that name different keys are not a key.
    let r = parse(
        &p,
        Body::Form(
            format!("click_id={id}&event=purchase&key=network-secret-0123456789").as_bytes(),
        ),
        &cx(Some(SECRET)),
    );
    assert_eq!(refusal(r), Refusal::Unauthorized);
}

#[test]
fn bare_digits_are_an_order_number_not_a_phone() {
    assert!(!personal("1234567890"));
    assert!(!personal("ORDER-2026-0042"));
    assert!(personal("+33612345678"));
    assert!(personal("(555) 123-4567"));
    assert!(personal("a.b@example.org"));
    assert!(!personal("user@localhost"));
}

#[test]
fn the_section_is_checked_and_a_sensitive_action_refused() {
    let mut c = ConversionsConfig::default();
    assert!(
        ConversionPolicy::from_config(&c).unwrap().is_none(),
        "no keys: intake off"
    );
    c.keys.insert("shop".into(), "short".into());
    c.actions.insert(
        "hiv_test_booked".into(),
        ActionConfig {
            category: Category::Lead,
            label: String::new(),
        },
    );
    c.actions.insert(
        "signup".into(),
        ActionConfig {
            category: Category::Signup,
            label: "Debt relief consultation".into(),
        },
    );
    let p = ConversionPolicy::from_config(&c).unwrap_err();
    let keys: Vec<&str> = p.0.iter().map(|p| p.key.as_str()).collect();
    assert!(keys.contains(&"conversions.actions.hiv_test_booked"), "{p}");
    assert!(keys.contains(&"conversions.actions.signup"), "{p}");
    assert!(keys.contains(&"conversions.keys.shop"), "{p}");
    assert!(keys.contains(&"conversions.txn_hash_key"), "{p}");
    let health =
        p.0.iter()
            .find(|p| p.key.ends_with("hiv_test_booked"))
            .unwrap();
    assert!(health.message.contains("health"), "{}", health.message);
}

#[test]
fn a_platform_click_id_is_taken_and_its_window_left_to_the_reading() {
    let p = policy();
    let gclid = "EAIaIQobChMI9Zr3x8-W_QIVkJBoCR0";
    let q = format!("click_id={gclid}&event=purchase&key={SECRET}");
    let c = parse(&p, Body::Form(q.as_bytes()), &cx(None)).unwrap();
    assert_eq!(
        (c[0].click_id.as_str(), c[0].click_ts.as_str()),
        (gclid, "")
    );
    let old = crate::time::rfc3339_millis(now() - Duration::from_secs(31 * 86_400)).to_string();
    let q = format!("click_id={gclid}&event=purchase&time={old}&key={SECRET}");
    assert_eq!(
        refusal(parse(&p, Body::Form(q.as_bytes()), &cx(None))),
        Refusal::OutsideWindow
    );
    let msclkid = "7f9e4b2c1d0a4e8f9b3c2d1e0f4a5b6c";
    let q = format!("click_id={msclkid}&event=purchase&key={SECRET}");
    assert!(parse(&p, Body::Form(q.as_bytes()), &cx(None)).is_ok());
    for bad in [
        "short-id",
        "has spaces in it here",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        let q = format!("click_id={bad}&event=purchase&key={SECRET}");
        assert_eq!(
            refusal(parse(&p, Body::Form(q.as_bytes()), &cx(None))),
            Refusal::BadClickId,
            "{bad}"
        );
    }
}

#[test]
fn a_stranger_learns_nothing_about_the_body() {
    let p = policy();
    let id = click_id(now(), Duration::from_secs(60));
    // Without a key, a body with unknown fields, a bad value or no JSON
    // at all is only unauthorized.
    for body in [
        format!(r#"{{"click_id":"{id}","event":"purchase","email":"a@b.c"}}"#),
        format!(r#"{{"click_id":"{id}","event":"purchase","value":true}}"#),
        "{not json".to_string(),
        "[]".to_string(),
    ] {
        assert_eq!(
            refusal(parse(&p, Body::Json(body.as_bytes()), &cx(None))),
            Refusal::Unauthorized,
            "{body}"
        );
        let wrong = Some("wrong-secret-0123456789");
        assert_eq!(
            refusal(parse(&p, Body::Json(body.as_bytes()), &cx(wrong))),
            Refusal::Unauthorized,
            "{body}"
        );
    }
    let form = format!("click_id={id}&event=purchase&email=a%40b.c");
    assert_eq!(
        refusal(parse(&p, Body::Form(form.as_bytes()), &cx(None))),
        Refusal::Unauthorized
    );
    // With the key in the body, the body's own fault is told.
    let body = format!(r#"{{"click_id":"{id}","event":"purchase","value":true,"key":"{SECRET}"}}"#);
    assert_eq!(
        refusal(parse(&p, Body::Json(body.as_bytes()), &cx(None))),
        Refusal::BadBody
    );
}
