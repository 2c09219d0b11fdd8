//! The Kafka sink (docs/storage.md "Kafka") against a real Kafka-protocol
//! broker (Tansu, `target/tools/tansu`, installed by .ci/test-deps): every
//! click arrives once, keyed by campaign, through a broker outage (the
//! broker stopped with SIGSTOP and resumed: a restart of this memory-only
//! broker would lose its data) and through a restart of the edge.

mod common;
use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    fn start() -> Broker {
        let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/tansu");
        assert!(bin.exists(), "no {}: run .ci/test-deps", bin.display());
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, port }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let topics = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
        let r = rt
            .block_on(admin.create_topics(&topics, &AdminOptions::new()))
            .unwrap();
        assert!(r.iter().all(|t| t.is_ok()), "{r:?}");
    }

    /// Every message of the topic: (key, click_id), read from the start
    /// until `want` arrived and nothing more came for a second.
    fn read_all(&self, topic: &str, want: usize) -> Vec<(String, String)> {
        self.read_messages(topic, want)
            .into_iter()
            .map(|(key, v)| {
                assert_eq!(v["campaign"], key.as_str(), "keyed by campaign");
                (key, v["click_id"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// Every message of the topic: (key, payload), read from the start
    /// until `want` arrived and nothing more came for a second.
    fn read_messages(&self, topic: &str, want: usize) -> Vec<(String, serde_json::Value)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", format!("t-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in md.topics()[0].partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_since = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let v: serde_json::Value =
                        serde_json::from_slice(m.payload().unwrap()).unwrap();
                    let key = String::from_utf8(m.key().unwrap_or_default().to_vec()).unwrap();
                    out.push((key, v));
                    quiet_since = Instant::now();
                }
                Some(Err(e)) => panic!("consumer: {e}"),
                None => {
                    if out.len() >= want && quiet_since.elapsed() > Duration::from_secs(1) {
                        return out;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} of {want} messages",
                out.len()
            );
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(edge: &Edge, round: &str, n: usize) {
    let mut conn = Conn::open(edge.port).unwrap();
    for i in 0..n {
        let url = edge.sign(&[
            "--landing",
            "https://shop.example/",
            "--campaign",
            &format!("c{}", i % 4),
            "--impression",
            &format!("{round}-{i}"),
        ]);
        assert_eq!(
            conn.send("GET", &url, &[("User-Agent", BROWSER_UA)], b"")
                .unwrap()
                .status,
            302,
            "the click is answered whatever the broker does"
        );
    }
}

fn assert_once(msgs: &[(String, String)], sent: usize) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (_, id) in msgs {
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), sent, "every click arrived");
    assert_eq!(msgs.len(), sent, "no click arrived twice");
}

const SINK: &str = "sink:\n  poll_interval_ms: 20\n  retry_initial_ms: 100\n  retry_max_ms: 1000\n  timeout_seconds: 20\n";

#[test]
fn a_broker_outage_loses_and_doubles_nothing() {
    let broker = Broker::start();
    broker.create_topic("clicks", 3);
    let url = format!("kafka://{}/clicks", broker.brokers());
    let edge = Edge::start_with(SINK, &["--sink", &url]);
    send(&edge, "a", 40);
    let deadline = Instant::now() + Duration::from_secs(30);
    while edge.metric("clickedge_events_shipped_total") < 40.0 {
        assert!(Instant::now() < deadline, "{}", edge.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    // The broker stops answering; clicks go on being answered and spooled.
    broker.signal("STOP");
    send(&edge, "b", 40);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(edge.metric("clickedge_events_shipped_total"), 40.0);
    broker.signal("CONT");
    let msgs = broker.read_all("clicks", 80);
    assert_once(&msgs, 80);
}

#[test]
fn an_edge_restart_loses_and_doubles_nothing() {
    let broker = Broker::start();
    broker.create_topic("clicks", 2);
    let url = format!("kafka://{}/clicks", broker.brokers());
    let mut edge = Edge::start_with(SINK, &["--sink", &url]);
    send(&edge, "a", 30);
    edge.stop();
    edge.restart(&["--sink", &url]);
    send(&edge, "b", 30);
    let msgs = broker.read_all("clicks", 60);
    assert_once(&msgs, 60);
    let by_key = msgs.iter().filter(|(k, _)| k == "c0").count();
    assert_eq!(by_key, 16, "c0 is every fourth click of each round");
}

#[test]
fn conversions_go_to_their_own_topic_keyed_by_click_id() {
    let broker = Broker::start();
    broker.create_topic("clicks", 2);
    broker.create_topic("clicks_conversions", 2);
    let url = format!("kafka://{}/clicks", broker.brokers());
    let conversions = "conversions:\n  keys: {shop: \"shop-secret-for-tests-0123\"}\n  txn_hash_key: \"txn-hash-key-for-tests-0123\"\n  actions: {purchase: {category: purchase}}\n";
    let edge = Edge::start_with(&format!("{SINK}{conversions}"), &["--sink", &url]);
    send(&edge, "a", 3);
    let ids: Vec<String> = edge
        .wait_events(3)
        .iter()
        .map(|e| e["click_id"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        let r = request(
            edge.port,
            "POST",
            "/v1/conversions",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "Bearer shop-secret-for-tests-0123"),
            ],
            format!(r#"{{"click_id":"{id}","event":"purchase","txn":"T-{id}"}}"#).as_bytes(),
        );
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let msgs = broker.read_messages("clicks_conversions", 3);
    assert_eq!(msgs.len(), 3, "each conversion once: {msgs:?}");
    for (key, v) in &msgs {
        assert_eq!(v["click_id"], key.as_str(), "keyed by click id");
        assert!(ids.contains(key));
        assert_eq!(v["event"], "purchase");
        assert!(!v.to_string().contains("T-"), "txn only as its hash: {v}");
    }
    assert_once(&broker.read_all("clicks", 3), 3);
}
