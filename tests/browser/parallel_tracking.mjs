// Reproduces an ad platform's *parallel tracking* in a real Chromium:
// the user clicks an ad on a publisher page, the browser goes straight to
// the advertiser's landing page, and the tracking URL is sent in the
// background with `navigator.sendBeacon` (a POST that follows redirects).
//
// Driven by a Rust test. Inputs (environment):
//   TRACKING_URL    the filled-in tracking URL to beacon (the edge's /c?...)
//   LANDING_URL     where the user goes, e.g. http://localhost:PORT/landing?gclid=X
//   PUBLISHER_PORT  a free loopback port; this script serves /publisher and
//                   /landing on it (http://localhost:PORT)
//   BEACONS         how many beacons to send, 1 (default) or 2; the second
//                   ~300 ms after the first, still before navigating
//   CHROMIUM        optional, the browser to run (default /usr/bin/chromium)
//   MODE            `beacon` (default): parallel tracking as above; `navigate`:
//                   a classic click, the ad's link goes through TRACKING_URL
//                   (a GET navigation the edge redirects to the landing page)
//   EXTRA_ARGS      optional, more Chromium switches, space-separated
//                   (`--disable-http2` for HTTP/1.1 over TLS)
//   IGNORE_HTTPS_ERRORS  `1` to accept the edge's self-signed certificate
//   NAVIGATE_AFTER_MS  optional, go to the landing page this long after the
//                   (last) beacon rather than at once, so that DevTools still
//                   reports the beacon's answer (its protocol)
//
// Output: one JSON line on stdout (diagnostics go to stderr):
//   {"final_url", "title", "beacons_seen", "beacon_statuses", "landing_hits",
//    "user_agent", "errors", "edge_requests" (each request to the edge: method,
//    its protocol, `h2` or `http/1.1`, and the request headers as sent),
//    plus "beacons" and "landing_requests" with the headers each
//    request carried, for diagnosis}
// Exit 0 when the browser was driven (whatever happened to the beacons),
// 1 when it could not be (launch, publisher page, click or landing failed),
// 2 on bad input, 3 when the whole run overran its deadline.

import http from 'node:http';
import { chromium } from 'playwright-core';

const OVERALL_DEADLINE_MS = 60_000;
const LANDING_TIMEOUT_MS = 15_000;
const BEACON_TIMEOUT_MS = 10_000;
const SECOND_BEACON_DELAY_MS = 300;
const DESKTOP_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const log = (...a) => console.error('[parallel_tracking]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const result = {
  final_url: null,
  title: null,
  beacons_seen: 0,
  beacon_statuses: [],
  landing_hits: 0,
  user_agent: null,
  errors: [],
  beacons: [],
  landing_requests: [],
};

let printed = false;
function finish(code) {
  if (!printed) {
    printed = true;
    process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code));
  } else {
    process.exit(code);
  }
}

function fail(code, message) {
  result.errors.push(message);
  finish(code);
}

// ---- inputs ----------------------------------------------------------------

function input() {
  const env = process.env;
  const missing = ['TRACKING_URL', 'LANDING_URL', 'PUBLISHER_PORT'].filter((k) => !env[k]);
  if (missing.length) throw new Error(`missing environment: ${missing.join(', ')}`);
  let tracking;
  let landing;
  try {
    tracking = new URL(env.TRACKING_URL);
  } catch {
    throw new Error(`TRACKING_URL is not a URL: ${env.TRACKING_URL}`);
  }
  try {
    landing = new URL(env.LANDING_URL);
  } catch {
    throw new Error(`LANDING_URL is not a URL: ${env.LANDING_URL}`);
  }
  const port = Number(env.PUBLISHER_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PUBLISHER_PORT is not a port: ${env.PUBLISHER_PORT}`);
  }
  const mode = env.MODE || 'beacon';
  if (mode !== 'beacon' && mode !== 'navigate') throw new Error(`MODE must be beacon or navigate, not ${mode}`);
  const beacons =
    mode === 'navigate' ? 0 : env.BEACONS === undefined || env.BEACONS === '' ? 1 : Number(env.BEACONS);
  if (mode === 'beacon' && beacons !== 1 && beacons !== 2) {
    throw new Error(`BEACONS must be 1 or 2, not ${env.BEACONS}`);
  }
  return {
    trackingUrl: tracking.href,
    landingUrl: landing.href,
    port,
    mode,
    beacons,
    extraArgs: (env.EXTRA_ARGS || '').split(' ').filter((a) => a),
    navigateAfterMs: Number(env.NAVIGATE_AFTER_MS || 0),
    ignoreHttpsErrors: env.IGNORE_HTTPS_ERRORS === '1',
    executablePath: env.CHROMIUM || '/usr/bin/chromium',
  };
}

// ---- the publisher's and advertiser's pages, served by this script ----------

// A value safe to put inside <script>: JSON with `<` escaped.
const js = (v) => JSON.stringify(v).replace(/</g, '\\u003c');

function publisherPage(cfg) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>publisher</title></head>
<body>
<p>An ad:</p>
<a id="ad" href="#">Shop now</a>
<script>
  // Like Google Ads' parallel tracking: beacon the tracking URL, go to the
  // landing page directly.
  const TRACKING_URL = ${js(cfg.trackingUrl)};
  const LANDING_URL = ${js(cfg.landingUrl)};
  const BEACONS = ${js(cfg.beacons)};
  const MODE = ${js(cfg.mode)};
  const go = () => setTimeout(() => (window.location.href = LANDING_URL), ${js(cfg.navigateAfterMs)});
  // sendBeacon's answer (queued or not) is reported on the console.
  const beacon = () => console.info('sendBeacon:' + navigator.sendBeacon(TRACKING_URL));
  document.getElementById('ad').addEventListener('click', (ev) => {
    ev.preventDefault();
    if (MODE === 'navigate') {
      window.location.href = TRACKING_URL;
      return;
    }
    beacon();
    if (BEACONS < 2) {
      go();
      return;
    }
    setTimeout(() => {
      beacon();
      go();
    }, ${SECOND_BEACON_DELAY_MS});
  });
</script>
</body></html>
`;
}

const LANDING_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>landing</title></head>
<body><h1>Welcome to the shop</h1></body></html>
`;

function startServer(cfg) {
  const hits = new Map();
  const handler = (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    hits.set(url.pathname, (hits.get(url.pathname) || 0) + 1);
    if (url.pathname === '/landing') {
      result.landing_requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
      });
    }
    // Drain any body (a beacon's follow-up is a GET, but be lenient).
    req.resume();
    let body;
    let status = 200;
    if (url.pathname === '/publisher') body = publisherPage(cfg);
    else if (url.pathname === '/landing') body = LANDING_PAGE;
    else {
      status = 404;
      body = 'not found\n';
    }
    res.writeHead(status, {
      'content-type': status === 200 ? 'text/html; charset=utf-8' : 'text/plain',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  // `localhost` may resolve to ::1 or 127.0.0.1 in Chromium: serve both,
  // loopback only. ::1 is best effort (the host may have no IPv6).
  const listen = (host) =>
    new Promise((resolve, reject) => {
      const s = http.createServer(handler);
      s.keepAliveTimeout = 1000;
      s.once('error', reject);
      s.listen(cfg.port, host, () => resolve(s));
    });
  return (async () => {
    const servers = [await listen('127.0.0.1')];
    try {
      servers.push(await listen('::1'));
    } catch (e) {
      log(`not serving on [::1]:${cfg.port}: ${e.message}`);
    }
    return {
      hits,
      close: () =>
        Promise.all(
          servers.map(
            (s) =>
              new Promise((r) => {
                s.close(() => r());
                s.closeAllConnections?.();
              }),
          ),
        ),
    };
  })();
}

// ---- the run ----------------------------------------------------------------

async function main() {
  let cfg;
  try {
    cfg = input();
  } catch (e) {
    return fail(2, e.message);
  }

  const server = await startServer(cfg).catch((e) => {
    fail(1, `cannot serve on 127.0.0.1:${cfg.port}: ${e.message}`);
    return null;
  });
  if (!server) return;

  let browser;
  let exitCode = 0;
  try {
    try {
      browser = await chromium.launch({
        executablePath: cfg.executablePath,
        headless: true,
        args: [...CHROMIUM_ARGS, ...cfg.extraArgs],
        timeout: 30_000,
      });
    } catch (e) {
      throw new Error(`cannot launch ${cfg.executablePath}: ${e.message}`);
    }
    const context = await browser.newContext({
      userAgent: DESKTOP_UA,
      ignoreHTTPSErrors: cfg.ignoreHttpsErrors,
    });
    const page = await context.newPage();

    // Beacons are observed through a DevTools session on the page (raw
    // request and response headers), and their redirect's arrival here at
    // /landing. The second matters: the publisher page navigates away at
    // once, and once it has, Chromium carries the keepalive request on in
    // the browser process where DevTools may no longer report it (it can
    // then look "canceled", net::ERR_ABORTED, although it was sent and its
    // redirect followed).
    const beacons = new Map(); // DevTools requestId -> record
    const reqExtra = new Map(); // requestId -> [raw request headers, per hop]
    const respExtra = new Map(); // requestId -> [{status, headers}, per hop]
    const push = (m, k, v) => (m.get(k) || m.set(k, []).get(k)).push(v);
    const sameUrl = (a, b) => {
      try {
        return new URL(a).href === b;
      } catch {
        return false;
      }
    };
    const cdp = await context.newCDPSession(page);
    // Every request to the edge, its protocol and the headers it went with.
    const edgeOrigin = new URL(cfg.trackingUrl).origin;
    const edgeRequests = new Map(); // requestId -> record of its first hop
    result.edge_requests = [];
    cdp.on('Network.requestWillBeSent', (p) => {
      if (p.redirectResponse) {
        const e = edgeRequests.get(p.requestId);
        if (e && e.protocol === null) e.protocol = p.redirectResponse.protocol ?? null;
      } else if (p.request.url.startsWith(edgeOrigin + '/')) {
        const e = { method: p.request.method, path: new URL(p.request.url).pathname, protocol: null, headers: null };
        edgeRequests.set(p.requestId, e);
        result.edge_requests.push(e);
      }
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (p) => {
      const e = edgeRequests.get(p.requestId);
      if (e && e.headers === null) {
        e.headers = p.headers;
        // DevTools may report no answer for a beacon whose page is gone;
        // its headers as sent still show the protocol (HTTP/2 has pseudo-headers).
        if (e.protocol === null) e.protocol = ':method' in p.headers ? 'h2' : 'http/1.1';
      }
    });
    cdp.on('Network.responseReceived', (p) => {
      const e = edgeRequests.get(p.requestId);
      if (e && e.protocol === null) e.protocol = p.response.protocol ?? null;
    });
    cdp.on('Network.requestWillBeSent', (p) => {
      const b = beacons.get(p.requestId);
      if (!b && !p.redirectResponse && p.request.method === 'POST' && sameUrl(p.request.url, cfg.trackingUrl)) {
        beacons.set(p.requestId, {
          url: p.request.url,
          method: p.request.method,
          type: p.type ?? null,
          status: null,
          devtools: 'pending',
          error: null,
          redirects: [],
          final_status: null,
        });
      } else if (b && p.redirectResponse) {
        b.redirects.push({
          url: p.request.url,
          method: p.request.method,
          from_status: p.redirectResponse.status,
        });
      }
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (p) => push(reqExtra, p.requestId, p.headers));
    cdp.on('Network.responseReceivedExtraInfo', (p) =>
      push(respExtra, p.requestId, { status: p.statusCode, headers: p.headers }),
    );
    cdp.on('Network.responseReceived', (p) => {
      const b = beacons.get(p.requestId);
      if (b) b.final_status = p.response.status;
    });
    cdp.on('Network.loadingFinished', (p) => {
      const b = beacons.get(p.requestId);
      if (b) b.devtools = 'finished';
    });
    cdp.on('Network.loadingFailed', (p) => {
      const b = beacons.get(p.requestId);
      if (b) {
        b.devtools = p.canceled ? 'canceled' : 'failed';
        b.error = p.errorText;
      }
    });
    await cdp.send('Network.enable');

    const header = (h, name) => {
      if (!h) return undefined;
      const k = Object.keys(h).find((x) => x.toLowerCase() === name);
      return k === undefined ? undefined : h[k];
    };
    const location = (id) => {
      const first = respExtra.get(id)?.[0];
      const loc = header(first?.headers, 'location');
      if (!loc) return null;
      try {
        return new URL(loc, cfg.trackingUrl).href;
      } catch {
        return null;
      }
    };
    // The beacons' follow-ups that reached this server (not the user's
    // navigation).
    const followups = () => result.landing_requests.filter((r) => r.headers['sec-fetch-mode'] !== 'navigate');
    const followupOf = (id) => {
      const loc = location(id);
      if (!loc) return null;
      const u = new URL(loc);
      if (u.port !== String(cfg.port) || !['localhost', '127.0.0.1', '[::1]'].includes(u.hostname)) return null;
      return followups().find((r) => r.url === u.pathname + u.search) || null;
    };
    const settled = (id, b) => {
      if (b.devtools === 'finished' || b.devtools === 'failed') return true;
      const first = respExtra.get(id)?.[0];
      if (first && !(first.status >= 300 && first.status < 400)) return true;
      return followupOf(id) !== null;
    };
    const allSettled = () =>
      beacons.size >= cfg.beacons &&
      ([...beacons].filter(([id, b]) => settled(id, b)).length >= cfg.beacons ||
        followups().length >= cfg.beacons);
    page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
    result.send_beacon_returned = [];
    page.on('console', (m) => {
      const t = m.text();
      if (t.startsWith('sendBeacon:')) result.send_beacon_returned.push(t.slice(11) === 'true');
    });

    const publisherUrl = `http://localhost:${cfg.port}/publisher`;
    try {
      await page.goto(publisherUrl, { waitUntil: 'load', timeout: 15_000 });
    } catch (e) {
      throw new Error(`cannot open ${publisherUrl}: ${e.message}`);
    }
    try {
      await page.getByText('Shop now').click({ timeout: 10_000 });
    } catch (e) {
      throw new Error(`cannot click "Shop now": ${e.message}`);
    }
    try {
      // A classic click arrives with the edge's click id added.
      const arrived = (u) =>
        cfg.mode === 'navigate' ? u.href.startsWith(cfg.landingUrl + '&clickid=') : u.href === cfg.landingUrl;
      await page.waitForURL(arrived, {
        timeout: LANDING_TIMEOUT_MS,
        waitUntil: 'load',
      });
    } catch (e) {
      throw new Error(`landing page not reached (at ${page.url()}): ${e.message}`);
    }

    // Wait for the beacons to settle.
    const deadline = Date.now() + BEACON_TIMEOUT_MS;
    while (!allSettled() && Date.now() < deadline) await sleep(50);
    const timedOut = !allSettled();

    result.final_url = page.url();
    result.title = await page.title().catch(() => null);
    result.beacons = [...beacons].map(([id, b]) => {
      const hops = reqExtra.get(id) || [];
      const resps = respExtra.get(id) || [];
      const followup = followupOf(id);
      return {
        ...b,
        // pending: DevTools reported no end (it stops following a keepalive
        // request once the page that sent it is gone).
        devtools: b.devtools === 'pending' ? 'no_end_reported' : b.devtools,
        status: resps[0]?.status ?? b.redirects[0]?.from_status ?? null,
        location: location(id),
        request_headers: hops[0] ?? null,
        response_headers: resps[0]?.headers ?? null,
        redirect_request_headers: hops[1] ?? null,
        redirect_status: resps[1]?.status ?? b.final_status ?? null,
        followup_reached_server: followup !== null,
        settled: settled(id, b),
      };
    });
    result.beacons_seen = beacons.size;
    result.beacon_statuses = result.beacons.map((b) => b.status ?? 0);
    result.beacon_followups = followups().length;
    if (beacons.size !== cfg.beacons) {
      result.errors.push(`expected ${cfg.beacons} beacon(s), saw ${beacons.size}`);
    }
    for (const b of result.beacons) {
      if (b.devtools === 'failed') result.errors.push(`beacon failed: ${b.error}`);
      else if (b.devtools === 'canceled' && !b.followup_reached_server && b.status === null) {
        result.errors.push(`beacon canceled (${b.error}) with nothing seen of its answer`);
      }
    }
    if (timedOut) {
      result.errors.push(
        `beacons not settled within ${BEACON_TIMEOUT_MS} ms (${beacons.size} seen, ${followups().length} follow-up(s) reached /landing)`,
      );
    }
  } catch (e) {
    exitCode = 1;
    result.errors.push(e.message);
  } finally {
    result.landing_hits = server.hits.get('/landing') || 0;
    const nav =
      result.landing_requests.find((r) => r.headers['sec-fetch-mode'] === 'navigate') ||
      result.landing_requests[0];
    result.user_agent = nav ? nav.headers['user-agent'] ?? null : null;
    if (browser) await browser.close().catch((e) => log(`closing the browser: ${e.message}`));
    await server.close();
  }
  finish(exitCode);
}

const watchdog = setTimeout(() => {
  fail(3, `overran the ${OVERALL_DEADLINE_MS} ms deadline`);
}, OVERALL_DEADLINE_MS);
watchdog.unref();

main().catch((e) => fail(1, `unexpected: ${e.stack || e}`));
