//! The Kafka sink (`kafka://HOST:PORT/TOPIC`, docs/storage.md "Kafka"): each
//! event one message, keyed by its campaign (a campaign's clicks stay in
//! one partition, in order), produced with acks from all in-sync replicas
//! and idempotence (a retry inside the producer never writes a message
//! twice).
//!
//! A batch is acknowledged only when every message of it is: the shipper
//! deletes spooled events only then, as with the other sinks. Each send has
//! its own deadline (`sink.timeout_seconds`); past it, or after a fatal
//! producer error (a broker that lost the producer's state answers
//! "unknown producer id"), the messages still queued are purged, the
//! producer is built anew, and the batch is sent again later. A batch
//! resent after a deadline may have partly reached the broker: consumers
//! dedupe on `click_id`, as ClickHouse's ReplacingMergeTree does.

use super::sink::{without_full_ip, CheckError, Sink, SinkError, SinkOptions};
use super::sink_url::KafkaUrl;
use crate::event::Field;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::Timeout;
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts the delivery reports of the batch in flight.
#[derive(Default)]
struct Reports {
    delivered: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

#[derive(Clone)]
struct Context(Arc<Reports>);

/// Why a batch was not acknowledged (said after `kafka BROKERS/TOPIC: `).
#[derive(Debug, thiserror::Error)]
enum Undelivered {
    #[error("the producer's queue stayed full")]
    QueueFull,
    #[error(transparent)]
    Produce(KafkaError),
    #[error("not acknowledged within {timeout:?}: {error}")]
    Flush {
        timeout: Duration,
        error: KafkaError,
    },
    #[error("fatal producer error {code:?}: {why}")]
    Fatal { code: RDKafkaErrorCode, why: String },
    #[error("{failed} messages not delivered: {why}")]
    Failed { failed: u64, why: String },
    #[error("{delivered} of {sent} messages acknowledged")]
    Partial { delivered: u64, sent: usize },
}

impl ClientContext for Context {}

impl ProducerContext for Context {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                *self.0.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        }
    }
}

pub(crate) struct Kafka {
    brokers: String,
    topic: String,
    /// The field whose value keys each message: `campaign` for clicks (a
    /// campaign's clicks meet in one partition), `click_id` for
    /// conversions (a click's conversions do).
    key: &'static str,
    timeout: Duration,
    producer: Mutex<Option<BaseProducer<Context>>>,
    reports: Arc<Reports>,
}

impl Kafka {
    /// The sink a parsed URL names.
    pub(crate) fn new(url: &KafkaUrl, opts: &SinkOptions) -> Kafka {
        Kafka {
            brokers: url.brokers.clone(),
            topic: url.topic.clone(),
            key: Field::Campaign.as_str(),
            timeout: opts.timeout.max(Duration::from_secs(1)),
            producer: Mutex::new(None),
            reports: Arc::default(),
        }
    }

    /// The conversions' sink beside a click topic: topic
    /// `<topic>_conversions`, each message keyed by its click id.
    pub(crate) fn conversions(url: &KafkaUrl, opts: &SinkOptions) -> Kafka {
        let mut k = Kafka::new(url, opts);
        k.topic = format!("{}_conversions", url.topic);
        k.key = "click_id";
        k
    }

    fn build(&self) -> Result<BaseProducer<Context>, SinkError> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("message.timeout.ms", self.timeout.as_millis().to_string())
            .create_with_context(Context(self.reports.clone()))
            .map_err(|e| SinkError::Failed(format!("kafka producer: {e}")))
    }

    /// Drops the producer after a deadline or a fatal error: what it still
    /// holds is purged, and the next send builds a new one.
    fn reset(&self, slot: &mut Option<BaseProducer<Context>>) {
        if let Some(p) = slot.take() {
            p.purge(rdkafka::producer::PurgeConfig::default().queue().inflight());
            p.poll(Duration::ZERO);
        }
    }
}

/// The value of the key field (`campaign` or `click_id`) of one record
/// line, the message's key.
fn message_key(line: &[u8], field: &str) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct K<'a> {
        #[serde(borrow)]
        campaign: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        click_id: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<K<'_>>(line)
        .ok()
        .and_then(|k| {
            if field == "campaign" {
                k.campaign
            } else {
                k.click_id
            }
        })
        .map(|v| v.into_owned().into_bytes())
        .unwrap_or_default()
}

impl Sink for Kafka {
    /// The lines as they are (without `ip_full`, which leaves the edge
    /// only for the operator's own fraud analysis): each becomes a message.
    fn encode(&self, ndjson: &[u8]) -> Result<Vec<u8>, SinkError> {
        let name = format!("\"{}\"", self.key);
        for line in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if !line.windows(name.len()).any(|w| w == name.as_bytes()) {
                return Err(SinkError::Rejected(format!(
                    "a record without {}: not of this topic's stream",
                    self.key
                )));
            }
        }
        Ok(without_full_ip(ndjson))
    }

    fn send(&self, body: &[u8]) -> Result<(), SinkError> {
        let mut slot = self.producer.lock().unwrap_or_else(|p| p.into_inner());
        let p = match slot.take() {
            Some(p) => p,
            None => self.build()?,
        };
        let slot_p = slot.insert(p);
        let deadline = Instant::now() + self.timeout;
        self.reports.delivered.store(0, Ordering::Relaxed);
        self.reports.failed.store(0, Ordering::Relaxed);
        let lines: Vec<&[u8]> = body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let result = (|| {
            let p = &*slot_p;
            for line in &lines {
                let key = message_key(line, self.key);
                let mut record = BaseRecord::to(&self.topic).key(&key).payload(*line);
                loop {
                    match p.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            if Instant::now() > deadline {
                                return Err(Undelivered::QueueFull);
                            }
                            p.poll(Duration::from_millis(50));
                            record = r;
                        }
                        Err((e, _)) => return Err(Undelivered::Produce(e)),
                    }
                }
                p.poll(Duration::ZERO);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            p.flush(Timeout::After(left))
                .map_err(|error| Undelivered::Flush {
                    timeout: self.timeout,
                    error,
                })?;
            if let Some((code, why)) = p.client().fatal_error() {
                return Err(Undelivered::Fatal { code, why });
            }
            let failed = self.reports.failed.load(Ordering::Relaxed);
            if failed > 0 {
                let why = self
                    .reports
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .unwrap_or_default();
                return Err(Undelivered::Failed { failed, why });
            }
            let delivered = self.reports.delivered.load(Ordering::Relaxed);
            if delivered != lines.len() as u64 {
                return Err(Undelivered::Partial {
                    delivered,
                    sent: lines.len(),
                });
            }
            Ok(())
        })();
        result.map_err(|e| {
            self.reset(&mut slot);
            SinkError::Failed(format!("kafka {}/{}: {e}", self.brokers, self.topic))
        })
    }

    fn describe(&self) -> String {
        format!("Kafka {}/{}", self.brokers, self.topic)
    }

    fn check(&self) -> Result<String, CheckError> {
        let p = self.build().map_err(CheckError::Producer)?;
        let md = p
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(5))
            .map_err(|error| CheckError::Metadata {
                sink: self.describe(),
                error,
            })?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == self.topic)
            .ok_or_else(|| CheckError::NoSuchTopic {
                sink: self.describe(),
            })?;
        if t.partitions().is_empty() {
            return Err(CheckError::NoPartitions {
                sink: self.describe(),
            });
        }
        Ok(format!(
            "{}: topic with {} partitions",
            self.describe(),
            t.partitions().len()
        ))
    }
}
