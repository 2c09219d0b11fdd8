//! The sink URL (`sink.url`, `--sink`), parsed once into what each sink
//! needs: `Settings::build` checks it and keeps the parsed value, and the
//! runtime builds the sink from that value ([`super::sinks::build`]), so no
//! URL is parsed twice and no two parsers can disagree.
//!
//! A [`SinkUrl`] may hold credentials (`USER:PASSWORD@` of a ClickHouse
//! URL, a token in an HTTP URL's query): its `Debug`, its
//! [`SinkUrl::shown`] and every [`SinkUrlError`] show the URL through
//! [`super::sinks::redact`], never as given.

use super::sink::redact;

/// A sink URL, parsed: where the events go and how.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum SinkUrl {
    /// `clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE.TABLE`
    ClickHouse(ClickHouseUrl),
    /// `kafka://HOST:PORT[,HOST:PORT]/TOPIC`
    Kafka(KafkaUrl),
    /// `http://...` or `https://...`: NDJSON by POST.
    Http(HttpUrl),
}

/// The parts of a `clickhouse://` URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClickHouseUrl {
    /// `HOST:PORT`, without credentials.
    pub host: String,
    pub database: String,
    pub table: String,
    /// `USER[:PASSWORD]@` of the URL, percent-decoded: sent as the sink's
    /// credentials in place of `sink.user` and `sink.password`.
    pub credentials: Option<(String, String)>,
}

/// The parts of a `kafka://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KafkaUrl {
    /// `HOST:PORT[,HOST:PORT]`
    pub brokers: String,
    pub topic: String,
}

/// An `http://` or `https://` URL, kept as given (it is what is POSTed to).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    pub url: String,
}

/// Why a sink URL cannot be used; `shown` is the URL without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkUrlError {
    #[error(
        "sink {shown:?}: use clickhouse://HOST:PORT/DATABASE.TABLE, kafka://HOST:PORT/TOPIC or an http:// or https:// URL"
    )]
    UnknownScheme { shown: String },
    #[error("{shown:?} is not a {scheme}:// URL")]
    WrongScheme { shown: String, scheme: &'static str },
    #[error("sink {shown:?}: {error}")]
    Http {
        shown: String,
        error: url::ParseError,
    },
    #[error("sink {shown:?}: write clickhouse://HOST:PORT/DATABASE.TABLE")]
    ClickHouseShape { shown: String },
    #[error("sink {shown:?}: the path must be DATABASE.TABLE")]
    ClickHouseTable { shown: String },
    #[error("sink {shown:?}: no HOST:PORT")]
    NoHost { shown: String },
    #[error("sink {shown:?}: write kafka://HOST:PORT/TOPIC")]
    KafkaShape { shown: String },
    #[error(
        "sink {shown:?}: a Kafka URL carries no credentials; the brokers are HOST:PORT[,HOST:PORT]"
    )]
    KafkaCredentials { shown: String },
}

impl SinkUrl {
    /// Parses any sink URL, choosing the sink by its scheme.
    pub(crate) fn parse(url: &str) -> Result<SinkUrl, SinkUrlError> {
        if url.starts_with("clickhouse://") {
            return ClickHouseUrl::parse(url).map(SinkUrl::ClickHouse);
        }
        if url.starts_with("kafka://") {
            return KafkaUrl::parse(url).map(SinkUrl::Kafka);
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            url::Url::parse(url).map_err(|error| SinkUrlError::Http {
                shown: redact(url),
                error,
            })?;
            return Ok(SinkUrl::Http(HttpUrl {
                url: url.to_string(),
            }));
        }
        Err(SinkUrlError::UnknownScheme { shown: redact(url) })
    }

    /// The URL for logs and messages: no password, query or fragment.
    pub(crate) fn shown(&self) -> String {
        match self {
            SinkUrl::ClickHouse(c) => c.shown(),
            SinkUrl::Kafka(k) => format!("kafka://{}/{}", k.brokers, k.topic),
            SinkUrl::Http(h) => redact(&h.url),
        }
    }
}

impl std::fmt::Debug for SinkUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SinkUrl({:?})", self.shown())
    }
}

impl std::fmt::Debug for ClickHouseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClickHouseUrl({:?})", self.shown())
    }
}

impl std::fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpUrl({:?})", redact(&self.url))
    }
}

/// What follows `SCHEME://`; a URL of another scheme is refused.
fn after_scheme<'a>(url: &'a str, scheme: &'static str) -> Result<&'a str, SinkUrlError> {
    url.strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .ok_or_else(|| SinkUrlError::WrongScheme {
            shown: redact(url),
            scheme,
        })
}

impl ClickHouseUrl {
    /// `clickhouse://HOST:PORT/DATABASE.TABLE`
    pub(crate) fn parse(url: &str) -> Result<ClickHouseUrl, SinkUrlError> {
        let shown = || redact(url);
        let rest = after_scheme(url, "clickhouse")?;
        let (host, table) = rest
            .split_once('/')
            .ok_or_else(|| SinkUrlError::ClickHouseShape { shown: shown() })?;
        let (database, table) = table
            .split_once('.')
            .filter(|(d, t)| {
                crate::click::is_id(d, 64)
                    && crate::click::is_id(t, 64)
                    && !d.contains('.')
                    && !t.contains('.')
            })
            .ok_or_else(|| SinkUrlError::ClickHouseTable { shown: shown() })?;
        // USER:PASSWORD@ in the URL is sent as the sink's credentials, the
        // way sink.user and sink.password are, and kept out of its name.
        let (host, credentials) = match host.rsplit_once('@') {
            Some((userinfo, host)) => {
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                };
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (host, Some((decode(user), decode(password))))
            }
            None => (host, None),
        };
        if host.is_empty() {
            return Err(SinkUrlError::NoHost { shown: shown() });
        }
        Ok(ClickHouseUrl {
            host: host.to_string(),
            database: database.to_string(),
            table: table.to_string(),
            credentials,
        })
    }

    /// The URL without its password.
    fn shown(&self) -> String {
        let user = match &self.credentials {
            Some((user, _)) => format!("{user}:***@"),
            None => String::new(),
        };
        format!(
            "clickhouse://{user}{}/{}.{}",
            self.host, self.database, self.table
        )
    }
}

impl KafkaUrl {
    /// `kafka://HOST:PORT/TOPIC` (several brokers: `HOST:PORT,HOST:PORT`).
    pub(crate) fn parse(url: &str) -> Result<KafkaUrl, SinkUrlError> {
        let shown = || redact(url);
        let rest = after_scheme(url, "kafka")?;
        let (brokers, topic) = rest
            .split_once('/')
            .filter(|(b, t)| !b.is_empty() && crate::click::is_id(t, 200))
            .ok_or_else(|| SinkUrlError::KafkaShape { shown: shown() })?;
        if brokers.contains('@') {
            return Err(SinkUrlError::KafkaCredentials { shown: shown() });
        }
        Ok(KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_parses_into_its_parts() {
        let Ok(SinkUrl::ClickHouse(c)) =
            SinkUrl::parse("clickhouse://u%40x:p%3Aw@127.0.0.1:8123/clickedge.clicks")
        else {
            panic!("not a ClickHouse URL");
        };
        assert_eq!(c.host, "127.0.0.1:8123");
        assert_eq!(
            (c.database.as_str(), c.table.as_str()),
            ("clickedge", "clicks")
        );
        assert_eq!(c.credentials, Some(("u@x".into(), "p:w".into())));
        assert_eq!(
            SinkUrl::parse("kafka://a:9092,b:9092/clicks"),
            Ok(SinkUrl::Kafka(KafkaUrl {
                brokers: "a:9092,b:9092".into(),
                topic: "clicks".into()
            }))
        );
        assert!(matches!(
            SinkUrl::parse("https://example.com/in?token=t"),
            Ok(SinkUrl::Http(_))
        ));
    }

    #[test]
    fn each_refusal_names_its_kind_and_no_secret() {
        fn kind(e: &SinkUrlError) -> &'static str {
            match e {
                SinkUrlError::UnknownScheme { .. } => "scheme",
                SinkUrlError::WrongScheme { .. } => "wrong scheme",
                SinkUrlError::Http { .. } => "http",
                SinkUrlError::ClickHouseShape { .. } => "clickhouse shape",
                SinkUrlError::ClickHouseTable { .. } => "clickhouse table",
                SinkUrlError::NoHost { .. } => "host",
                SinkUrlError::KafkaShape { .. } => "kafka shape",
                SinkUrlError::KafkaCredentials { .. } => "kafka credentials",
            }
        }
        let cases = [
            ("ftp://u:s3cret@x/", "scheme"),
            ("clickhouse://u:s3cret@h:1", "clickhouse shape"),
            ("clickhouse://u:s3cret@h:1/nodot", "clickhouse table"),
            ("clickhouse://u:s3cret@/db.t", "host"),
            ("kafka://x", "kafka shape"),
            ("kafka://u:s3cret@h:9092/t", "kafka credentials"),
            ("http://u:s3cret@[::1/", "http"),
        ];
        for (url, expected) in cases {
            let e = SinkUrl::parse(url).unwrap_err();
            assert_eq!(kind(&e), expected, "{url}: {e:?}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
            assert!(!format!("{e:?}").contains("s3cret"), "{e:?}");
        }
        let ok = SinkUrl::parse("clickhouse://u:s3cret@h:1/db.t").unwrap();
        assert!(!format!("{ok:?}").contains("s3cret"));
        assert_eq!(ok.shown(), "clickhouse://u:***@h:1/db.t");
    }
}
