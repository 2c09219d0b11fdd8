//! Shared by the black-box tests: start the real binary on free loopback
//! ports with a config of the test's own, and speak HTTP to it.
#![allow(dead_code)]

pub mod clickhouse;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_clickedge");
pub const SECRET: &str = "test-secret-of-this-suite-0123456789";
pub const BROWSER_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// A loopback port nobody listens on, for a server the test starts next.
/// Taken below Linux's ephemeral range (32768-60999), from a start that
/// differs per test process: a port the kernel hands out for `bind(0)` can
/// be given to another test's outgoing connection (wrk opens thousands)
/// before the server binds it, which made a test fail now and then with
/// the address in use.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + SPAN)
}

/// A running `clickedge serve` with its own data dir, killed on drop.
pub struct Edge {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub metrics_port: u16,
    pub config: PathBuf,
}

/// A config for tests: two keys (rotation), fast flushes, short grace.
pub fn config_text(port: u16, metrics_port: u16, data: &Path, extra: &str) -> String {
    format!(
        r#"edge_id: test-edge
listen: ["127.0.0.1:{port}"]
data_dir: "{data}"
signing:
  keys:
    - {{id: k1, secret: "{SECRET}"}}
    - {{id: k2, secret: "another-secret-0123456789abcdef"}}
events:
  flush_interval_ms: 50
metrics:
  listen: "127.0.0.1:{metrics_port}"
server:
  threads: 2
  grace_period_seconds: 1
  graceful_shutdown_timeout_seconds: 1
  keepalive_drain_seconds: 0
  pid_file: "{data}/clickedge.pid"
  upgrade_sock: "{data}/upgrade.sock"
{extra}"#,
        data = data.display()
    )
}

impl Edge {
    pub fn start() -> Edge {
        Self::start_with("", &[])
    }

    /// `extra` is appended to the config (top-level keys); `args` go to `serve`.
    pub fn start_with(extra: &str, args: &[&str]) -> Edge {
        Self::start_edited(|c| c + extra, args)
    }

    /// `edit` rewrites the test config's text; `args` go to `serve`.
    pub fn start_edited(edit: impl FnOnce(String) -> String, args: &[&str]) -> Edge {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Self::start_with_port_args(edit, |_| args)
    }

    /// As [`Edge::start_edited`], with `serve`'s arguments made from the
    /// port the edge answers on (for `--listen`).
    pub fn start_with_port_args(
        edit: impl FnOnce(String) -> String,
        args: impl FnOnce(u16) -> Vec<String>,
    ) -> Edge {
        Self::spawn(edit, args, |_| {})
    }

    /// The most general start: `prepare` may change the command (its
    /// environment, or resource limits through `pre_exec`) before it runs.
    pub fn spawn(
        edit: impl FnOnce(String) -> String,
        args: impl FnOnce(u16) -> Vec<String>,
        prepare: impl FnOnce(&mut Command),
    ) -> Edge {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let args = args(port);
        let metrics_port = free_port();
        let config = dir.path().join("clickedge.yaml");
        std::fs::write(
            &config,
            edit(config_text(
                port,
                metrics_port,
                &dir.path().join("data"),
                "",
            )),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log);
        prepare(&mut cmd);
        let child = cmd.spawn().unwrap();
        let mut edge = Edge {
            child: Some(child),
            dir,
            port,
            metrics_port,
            config,
        };
        edge.wait_ready();
        edge
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = try_get(self.port, "/healthz") {
                if r.status == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("clickedge exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "clickedge not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `serve` again on the same config and data dir (after `stop`
    /// or a kill), with `args`, and waits until it answers.
    pub fn restart(&mut self, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap();
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A signed `/c?...` from the real `sign` command.
    pub fn sign(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .arg("sign")
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.port, "GET", path, headers, b"")
    }

    pub fn metrics(&self) -> String {
        let r = request(self.metrics_port, "GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200);
        String::from_utf8(r.body).unwrap()
    }

    /// The value of one metric line, e.g. `clickedge_refused_total{reason="bad_signature"}`.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.metrics();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
            .parse()
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}:\n{}", self.log());
                return;
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every event line written so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        read_events(&self.data().join("clicks"))
    }

    /// Waits until at least `n` events are readable (failing after a generous bound).
    pub fn wait_events(&self, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ev = self.events();
            if ev.len() >= n {
                return ev;
            }
            assert!(Instant::now() < deadline, "only {} of {n} events", ev.len());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `clickedge check --config FILE`: its exit code and what it printed on
/// stdout, then stderr.
pub fn check(config: &Path) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

pub fn read_events(dir: &Path) -> Vec<serde_json::Value> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for line in text.split_inclusive('\n') {
            // A line still being written has no newline yet.
            if let Some(l) = line.strip_suffix('\n') {
                out.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")));
            }
        }
    }
    out
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 exchange on a connection that the caller keeps, so tests
/// can check keep-alive. Reads exactly one response (Content-Length framed,
/// or none for 204/304 and HEAD).
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            reader: BufReader::new(s),
        })
    }

    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(req.as_bytes())?;
        s.write_all(body)?;
        self.read_response(method)
    }

    /// Reads one response to a request of `method`.
    pub fn read_response(&mut self, method: &str) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let len: usize = resp
            .header("content-length")
            .map_or(0, |v| v.parse().unwrap());
        if method != "HEAD" && status != 204 && status != 304 {
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body)?;
        }
        Ok(resp)
    }
}

impl Conn {
    /// One line as the server sent it (a `100 Continue`, say), CRLF
    /// trimmed; an error once the server has closed the connection.
    pub fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_string())
    }

    /// Writes bytes as they are (a partial request, say).
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.reader.get_mut().write_all(bytes)
    }

    /// Whether the server closes the connection (end of stream or reset)
    /// within `limit`, sending nothing more.
    pub fn closed_within(&mut self, limit: Duration) -> bool {
        self.reader.get_mut().set_read_timeout(Some(limit)).unwrap();
        let mut b = [0u8; 64];
        match self.reader.read(&mut b) {
            Ok(0) => true,
            Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&b[..n])),
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

pub fn try_get(port: u16, path: &str) -> std::io::Result<Response> {
    Conn::open(port)?.send("GET", path, &[], b"")
}

pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    Conn::open(port)
        .unwrap()
        .send(method, path, headers, body)
        .unwrap()
}

/// What the receiver got: each request's headers and events.
pub type Received = std::sync::Arc<
    std::sync::Mutex<
        Vec<(
            std::collections::HashMap<String, String>,
            Vec<serde_json::Value>,
        )>,
    >,
>;

/// Waits until the receiver has exactly `want` events.
pub fn wait_received(got: &Received, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: usize = got.lock().unwrap().iter().map(|(_, e)| e.len()).sum();
        if n >= want {
            assert_eq!(n, want);
            return;
        }
        assert!(Instant::now() < deadline, "receiver has {n} of {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real HTTP receiver of the test's own: decodes gzip NDJSON, fails the
/// first `fail` requests with a 503.
pub fn receiver(fail: usize) -> (String, Received) {
    receiver_answering(
        fail,
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy",
    )
}

/// The same, answering the first `fail` requests with `answer`. A request
/// without a body (what a client that follows a redirect sends) gets a 200
/// and records nothing, as a login page or a moved endpoint would.
pub fn receiver_answering(fail: usize, answer: &'static [u8]) -> (String, Received) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}/ingest?token=t", l.local_addr().unwrap());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    // A thread a connection: the clicks' and the conversions' shippers
    // each keep one open.
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let mut s = s.unwrap();
            let g = g.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                loop {
                    let mut first = String::new();
                    if r.read_line(&mut first).unwrap_or(0) == 0 {
                        break;
                    }
                    let mut headers = std::collections::HashMap::new();
                    loop {
                        let mut h = String::new();
                        r.read_line(&mut h).unwrap();
                        if h.trim().is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                    let len: usize = headers
                        .get("content-length")
                        .map_or(0, |v| v.parse().unwrap());
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).unwrap();
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    if n <= fail {
                        let _ = s.write_all(answer);
                        continue;
                    }
                    if body.is_empty() {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                        continue;
                    }
                    let mut text = String::new();
                    flate2::read::GzDecoder::new(&body[..])
                        .read_to_string(&mut text)
                        .unwrap();
                    let events = text
                        .lines()
                        .map(|l| serde_json::from_str(l).unwrap())
                        .collect();
                    g.lock().unwrap().push((headers, events));
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                }
            });
        }
    });
    (addr, got)
}

/// A self-signed certificate for `localhost` and its key, as PEM files.
pub fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// `s` percent-encoded but for RFC 3986's unreserved characters: how an ad
/// platform fills `{lpurl}` into a tracking template.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
