//! A real ClickHouse server of the test's own: Debian's `clickhouse-server`,
//! on free loopback ports, with its data in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ClickHouse {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub http_port: u16,
    tcp_port: u16,
}

fn binary() -> PathBuf {
    for p in [
        "/usr/sbin/clickhouse-server",
        "/usr/bin/clickhouse-server",
        "/usr/bin/clickhouse",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("clickhouse-server is needed for this test: apt-get install -y clickhouse-server (or run bash .ci/run, which installs it)");
}

impl ClickHouse {
    pub fn start() -> ClickHouse {
        let dir = tempfile::tempdir().unwrap();
        let mut ch = ClickHouse {
            child: None,
            http_port: super::free_port(),
            tcp_port: super::free_port(),
            dir,
        };
        let d = ch.dir.path();
        std::fs::write(
            d.join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{}</http_port>
  <tcp_port>{}</tcp_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
"#,
                ch.http_port,
                ch.tcp_port,
                d = d.display()
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"#,
        )
        .unwrap();
        ch.run();
        // The shipped schema, statement by statement, as an operator would.
        for file in [
            "conf/clickhouse/schema.sql",
            "conf/clickhouse/conversions.sql",
        ] {
            for stmt in sql_statements(file) {
                ch.query(&stmt);
            }
        }
        ch
    }

    /// Starts (or restarts) the server on the same ports and data.
    pub fn run(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::File::create(self.dir.path().join("server.log")).unwrap();
        let child = Command::new(binary())
            .arg(format!(
                "--config-file={}",
                self.dir.path().join("config.xml").display()
            ))
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.try_query("SELECT 1").is_ok_and(|r| r.trim() == "1") {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("clickhouse-server exited with {st}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "clickhouse-server not ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGKILL: an outage, not a maintenance window).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn sink_url(&self) -> String {
        format!("clickhouse://127.0.0.1:{}/clickedge.clicks", self.http_port)
    }

    /// ClickHouse answers with chunked bodies: a real HTTP client (ureq).
    pub fn try_query(&self, q: &str) -> Result<String, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut r = agent
            .post(&format!("http://127.0.0.1:{}/", self.http_port))
            .send(q.as_bytes())
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status}: {text}"));
        }
        Ok(text)
    }

    pub fn query(&self, q: &str) -> String {
        self.try_query(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    /// `count()` with FINAL and `uniqExact(click_id)`: what a report sees.
    pub fn counts(&self) -> (u64, u64) {
        let t = self
            .query("SELECT count(), uniqExact(click_id) FROM clickedge.clicks FINAL FORMAT TSV");
        let mut it = t.split_whitespace().map(|x| x.parse::<u64>().unwrap());
        (it.next().unwrap(), it.next().unwrap())
    }

    pub fn wait_count(&self, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (rows, ids) = self.counts();
            if ids >= n {
                assert_eq!(ids, n, "more distinct clicks than sent");
                assert_eq!(rows, n, "a click appears twice after FINAL");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ClickHouse has {ids} of {n} clicks"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The statements of one of the shipped SQL files (a path from the
/// repository's root), comments dropped.
pub fn sql_statements(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
        .unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    stripped
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}
