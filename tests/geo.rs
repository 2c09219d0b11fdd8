//! `country` from a MaxMind-format database the test builds itself, over
//! real HTTP; the database is reloaded when its file changes.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;

/// An mmdb mapping 127.0.0.0/8 (where the test clicks come from) and
/// 2001:db8::/32 to `code`.
fn write_db(path: &Path, code: &'static str) {
    #[derive(serde::Serialize)]
    struct Rec {
        country: BTreeMap<&'static str, &'static str>,
    }
    let rec = Rec {
        country: [("iso_code", code)].into(),
    };
    let mut w = mmdb_writer::Writer::new("GeoLite2-Country");
    for net in ["127.0.0.0/8", "2001:db8::/32"] {
        w.insert(net.parse::<ipnet::IpNet>().unwrap(), &rec)
            .unwrap();
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes().unwrap()).unwrap();
    std::fs::rename(tmp, path).unwrap();
}

fn click_country(edge: &Edge) -> String {
    let n = edge.events().len();
    let url = edge.sign(&["--landing", "https://shop.example/p", "--campaign", "c"]);
    assert_eq!(edge.get(&url, &[("User-Agent", BROWSER_UA)]).status, 302);
    let ev = edge.wait_events(n + 1);
    ev[n]["country"].as_str().unwrap().to_string()
}

#[test]
fn country_comes_from_the_database_and_follows_its_reload() {
    let geo = tempfile::tempdir().unwrap();
    let db = geo.path().join("country.mmdb");
    write_db(&db, "NZ");
    let edge = Edge::start_with(
        &format!(
            "geo:\n  country_db: {}\nivt:\n  duplicate_window_seconds: 0\n",
            db.display()
        ),
        &[],
    );
    assert_eq!(click_country(&edge), "NZ");

    // A new release of the database is picked up without a restart.
    write_db(&db, "FR");
    edge.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if click_country(&edge) == "FR" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // A broken file keeps the old database in force.
    std::fs::write(&db, b"not an mmdb").unwrap();
    edge.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while edge.metric("clickedge_reloads_total{result=\"failed\"}") < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no failed reload");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(click_country(&edge), "FR");
}

#[test]
fn without_a_database_country_is_empty() {
    let edge = Edge::start();
    assert_eq!(click_country(&edge), "");
}

#[test]
fn check_names_a_file_that_is_not_an_mmdb() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("GeoLite2-Country.mmdb");
    std::fs::write(&db, b"<html>not found</html>").unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        config_text(
            free_port(),
            free_port(),
            &dir.path().join("data"),
            &format!("geo:\n  country_db: {}\n", db.display()),
        ),
    )
    .unwrap();
    let (code, out) = check(&cfg);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("geo.country_db") && out.contains("GeoLite2-Country.mmdb"),
        "{out}"
    );
}

/// An ASN mmdb in GeoLite2-ASN's shape mapping loopback to `asn`.
fn write_asn_db(path: &Path, asn: u32) {
    #[derive(serde::Serialize)]
    struct Rec {
        autonomous_system_number: u32,
        autonomous_system_organization: &'static str,
    }
    let rec = Rec {
        autonomous_system_number: asn,
        autonomous_system_organization: "Test Hosting",
    };
    let mut w = mmdb_writer::Writer::new("GeoLite2-ASN");
    w.insert("127.0.0.0/8".parse::<ipnet::IpNet>().unwrap(), &rec)
        .unwrap();
    std::fs::write(path, w.to_bytes().unwrap()).unwrap();
}

fn click_reason_and_rule(edge: &Edge) -> (u16, String, String) {
    let n = edge.events().len();
    let url = edge.sign(&["--landing", "https://shop.example/p", "--campaign", "c"]);
    let status = edge.get(&url, &[("User-Agent", BROWSER_UA)]).status;
    let ev = edge.wait_events(n + 1);
    (
        status,
        ev[n]["reason"].as_str().unwrap().to_string(),
        ev[n]["rule"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn a_click_from_a_data_center_as_is_flagged_with_its_asn() {
    let geo = tempfile::tempdir().unwrap();
    let db = geo.path().join("asn.mmdb");
    // AS16509 (Amazon) is on the shipped list.
    write_asn_db(&db, 16509);
    let edge = Edge::start_with(
        &format!(
            "geo:\n  asn_db: {}\nivt:\n  duplicate_window_seconds: 0\n",
            db.display()
        ),
        &[],
    );
    assert_eq!(
        click_reason_and_rule(&edge),
        (302, "datacenter_ip".into(), "asn:16509".into()),
        "flagged, redirected, and the AS named"
    );
    drop(edge);

    // An AS on no list is a person's network; the operator's own list adds to the shipped one.
    write_asn_db(&db, 64_500);
    let edge = Edge::start_with(
        &format!(
            "geo:\n  asn_db: {}\nivt:\n  duplicate_window_seconds: 0\n",
            db.display()
        ),
        &[],
    );
    assert_eq!(
        click_reason_and_rule(&edge),
        (302, String::new(), String::new())
    );
    drop(edge);
    let edge = Edge::start_with(
        &format!(
            "geo:\n  asn_db: {}\nivt:\n  duplicate_window_seconds: 0\n  datacenter_asns: [64500]\n",
            db.display()
        ),
        &[],
    );
    assert_eq!(
        click_reason_and_rule(&edge),
        (302, "datacenter_ip".into(), "asn:64500".into())
    );
}

#[test]
fn asn_lists_without_a_database_or_with_a_bad_line_are_named_by_check() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("asns.txt");
    std::fs::write(&list, "16509\nnot-a-number\n").unwrap();
    let cfg = dir.path().join("c.yaml");
    let db = dir.path().join("asn.mmdb");
    write_asn_db(&db, 1);
    std::fs::write(
        &cfg,
        config_text(
            free_port(),
            free_port(),
            &dir.path().join("d"),
            &format!(
                "geo:\n  asn_db: {}\nivt:\n  datacenter_asn_files: [{}]\n",
                db.display(),
                list.display()
            ),
        ),
    )
    .unwrap();
    let (code, text) = check(&cfg);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("line 2") && text.contains("not-a-number"),
        "{text}"
    );

    std::fs::write(
        &cfg,
        config_text(
            free_port(),
            free_port(),
            &dir.path().join("d"),
            "ivt:\n  datacenter_asns: [16509]\n",
        ),
    )
    .unwrap();
    let (code, text) = check(&cfg);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("geo.asn_db"), "{text}");
}
