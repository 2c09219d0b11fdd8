#!/usr/bin/env bash
# Fetches held-out user-agent corpora from package registries only (PyPI, npm,
# Debian) and writes, in the directory given as $1:
#   heldout-crawlers.txt   bots/crawlers, one UA a line, unique
#   heldout-browsers.txt   browsers (human), one UA a line, unique
# plus, for inspection:
#   heldout-crawlers-dropped.txt  whatismybrowser "bot" rows dropped as label noise
#   heldout-apps.txt              non-browser software (curl-like libraries,
#                                 download helpers, ...): neither file above
#   sources/*.txt                 each source's held-out part, separately
#
# Sources (all pinned):
#   PyPI random-user-agent 1.0.1 (MIT; data scraped 2018 from the
#     WhatIsMyBrowser.com database): software_type "bot -> *" = crawlers,
#     "browser -> web-browser|in-app-browser" = browsers
#   npm cloudflare-bot-directory 1.0.48 (data CC BY-NC 4.0: Cloudflare Radar
#     verified bots/agents): every userAgents entry = crawlers
#   npm @ulixee/real-user-agents 2.0.0-alpha.34 (MIT): the UAs of real
#     BrowserStack browsers = browsers
# Every UA found in an excluded corpus (the list is tuned on or derived from
# them) is removed: CrawlerDetect 0.4.2 fixtures, Matomo device-detector 6.5.1
# fixtures, crawler-user-agents 1.67.0, intoli user-agents 2.1.198,
# fake-useragent 2.2.0, top-user-agents 2.1.138, woothee 1.11.1 testsets,
# uap-core (Debian package) tests; and, when present, the file named by
# $EXCLUDE_EXTRA (isbot's fixtures, one user agent a line, which no registry
# ships: the figures in docs/accuracy.md were measured with them excluded).
#
# Called by evaluate.sh. Usage: bash heldout.sh OUTDIR     (needs pip, npm, python3 with PyYAML; apt-get
#                                  download for uap-core, skipped with a warning)
set -euo pipefail
out=${1:?usage: heldout.sh OUTDIR}
extra=${EXCLUDE_EXTRA:-/nonexistent}
mkdir -p "$out/pkg" "$out/sources"
out=$(cd "$out" && pwd)
p="$out/pkg"
cd "$p"

fetch_pypi() { # name==ver kind(sdist|wheel)
  local flag=--no-binary; [ "$2" = wheel ] && flag=--only-binary
  ls "$p"/$(echo "${1%%==*}" | tr - _)-"${1##*==}"* >/dev/null 2>&1 ||
    ls "$p"/"${1%%==*}"-"${1##*==}"* >/dev/null 2>&1 ||
    pip download -q --no-deps $flag :all: -d "$p" "$1"
}
fetch_npm() { # spec tarball
  [ -s "$p/$2" ] || npm pack --silent "$1" >/dev/null
}

# --- held-out sources
fetch_pypi random-user-agent==1.0.1 wheel
fetch_npm cloudflare-bot-directory@1.0.48 cloudflare-bot-directory-1.0.48.tgz
fetch_npm @ulixee/real-user-agents@2.0.0-alpha.34 ulixee-real-user-agents-2.0.0-alpha.34.tgz
# --- excluded corpora (only to remove overlap)
fetch_pypi crawlerdetect==0.4.2 sdist
fetch_pypi device-detector==6.5.1 sdist
fetch_pypi fake-useragent==2.2.0 sdist
fetch_pypi crawler-user-agents==1.67.0 wheel
fetch_npm user-agents@2.1.198 user-agents-2.1.198.tgz
fetch_npm top-user-agents@2.1.138 top-user-agents-2.1.138.tgz
fetch_npm woothee@1.11.1 woothee-1.11.1.tgz
if ! ls "$p"/uap-core_*.deb >/dev/null 2>&1; then
  apt-get download -q uap-core >/dev/null 2>&1 || echo "warning: apt-get download uap-core failed; uap-core tests not excluded" >&2
fi

for f in *.tgz; do d=${f%.tgz}; [ -d "$d" ] || { mkdir -p "$d" && tar xzf "$f" -C "$d"; }; done
for f in *.tar.gz; do [ -d "${f%.tar.gz}" ] || tar xzf "$f"; done
for f in *.whl; do d=${f%.whl}; [ -d "$d" ] || python3 -m zipfile -e "$f" "$d"; done
for f in uap-core_*.deb; do [ -e "$f" ] && { [ -d uap-core-deb ] || dpkg-deb -x "$f" uap-core-deb; }; done
[ -s user_agents.jl ] || python3 -m zipfile -e random_user_agent-1.0.1-py3-none-any/random_user_agent/data/user_agents.zip .

python3 - "$p" "$out" "$extra" <<'PY'
import glob, json, os, re, sys, yaml
p, out, extra = sys.argv[1:4]
L = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

def clean(s):
    s = str(s).strip()
    return s if s and "\n" not in s and "\r" not in s else None

def lines(f):
    return {c for c in (clean(l) for l in open(f, encoding="utf-8", errors="replace")) if c}

# ---- excluded corpora
ex = set()
ex |= lines(f"{p}/crawlerdetect-0.4.2/tests/fixtures/user_agent/crawlers.txt")
ex |= lines(f"{p}/crawlerdetect-0.4.2/tests/fixtures/user_agent/devices.txt")
for f in glob.glob(f"{p}/device_detector-6.5.1/device_detector/tests/fixtures/upstream/*.yml"):
    ex |= {c for e in yaml.load(open(f), Loader=L) or [] if (c := clean(e.get("user_agent") or ""))}
ex |= {c for e in json.load(open(glob.glob(f"{p}/crawler_user_agents-1.67.0-*/crawleruseragents/crawler-user-agents.json")[0]))
       for i in e["instances"] if (c := clean(i))}
ex |= {c for e in json.load(open(f"{p}/user-agents-2.1.198/package/dist/user-agents.json")) if (c := clean(e["userAgent"]))}
ex |= {c for l in open(f"{p}/fake_useragent-2.2.0/src/fake_useragent/data/browsers.jsonl") if (c := clean(json.loads(l)["useragent"]))}
for f in glob.glob(f"{p}/top-user-agents-2.1.138/package/src/*.json"):
    ex |= {c for u in json.load(open(f)) if (c := clean(u))}
for f in glob.glob(f"{p}/woothee-1.11.1/package/woothee/testsets/*.yaml"):
    ex |= {c for e in yaml.load(open(f), Loader=L) or [] if isinstance(e, dict) and (c := clean(e.get("target") or ""))}
U = f"{p}/uap-core-deb/usr/share/uap-core"
for f in glob.glob(f"{U}/tests/*.yaml") + glob.glob(f"{U}/test_resources/*.yaml"):
    y = yaml.load(open(f), Loader=L)
    for e in (y.get("test_cases") if isinstance(y, dict) else y) or []:
        if isinstance(e, dict) and (c := clean(e.get("user_agent_string") or "")):
            ex.add(c)
for f in glob.glob(f"{U}/test_resources/*.txt"):
    ex |= lines(f)
if os.path.isfile(extra):
    ex |= lines(extra)
print(f"excluded corpora: {len(ex)} unique UAs{' (with ' + extra + ')' if os.path.isfile(extra) else ' (no isbot fixtures file)'}", file=sys.stderr)

# ---- WhatIsMyBrowser data (random-user-agent 1.0.1)
# Parser labels with a known failure: device or app names that collide with
# bot names (HTC Butterfly / Cosmos phones, Yahoo! JAPAN and Sogou apps,
# Facebook in-app, Yahoo Messenger, Pinterest app) are labelled "bot".
noise = re.compile(r"[Bb]utterfly|BUTTERFLY|[Cc]osmos|COSMOS|YJApp|jp\.co\.yahoo|SogouMobileBrowser|SogouMSE"
                   r"|FB_IAB|FBAN/|YahooMobileMessenger|Pinterest for Android")
w_bot, w_drop, w_br, w_app = set(), set(), set(), set()
for l in open(f"{p}/user_agents.jl"):
    d = json.loads(l)
    ua, t = clean(d["user_agent"]), d["software_type"]
    if not ua:
        continue
    if t.startswith("bot"):
        (w_drop if noise.search(ua) else w_bot).add(ua)
    elif t in ("browser -> web-browser", "browser -> in-app-browser"):
        w_br.add(ua)
    elif t.startswith("application"):
        w_app.add(ua)
conflict = (w_bot | w_drop) & (w_br | w_app) | (w_br & w_app)

# ---- Cloudflare Radar verified bots and signed agents
cf = set()
for e in json.load(open(f"{p}/cloudflare-bot-directory-1.0.48/package/src/index.json")):
    for u in e.get("userAgents") or []:
        c = clean(u)
        # drop placeholders: "user_agent", wildcards, "[...]", tabs, bare "Name/"
        if c and c != "user_agent" and "*" not in c and "[...]" not in c and "\t" not in c and not c.endswith("/"):
            cf.add(c)

# ---- BrowserStack browsers (@ulixee/real-user-agents)
bs = {c for e in json.load(open(f"{p}/ulixee-real-user-agents-2.0.0-alpha.34/package/data/external-raw/browserstack/userAgents.json"))
      if (c := clean(e.get("string") or ""))}

src = {
    "wimb-crawlers": w_bot - conflict - ex,
    "cloudflare-crawlers": cf - ex,
    "wimb-browsers": w_br - conflict - ex,
    "browserstack-browsers": bs - ex,
    "wimb-apps": w_app - conflict - ex,
}
crawlers = src["wimb-crawlers"] | src["cloudflare-crawlers"]
browsers = (src["wimb-browsers"] | src["browserstack-browsers"]) - crawlers
apps = src["wimb-apps"] - crawlers - browsers

def write(name, s):
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        f.write("".join(u + "\n" for u in sorted(s)))
    print(f"{len(s):8d}  {name}")

for k, v in src.items():
    write(f"sources/{k}.txt", v)
write("heldout-crawlers-dropped.txt", w_drop - ex)
write("heldout-apps.txt", apps)
write("heldout-crawlers.txt", crawlers)
write("heldout-browsers.txt", browsers)
PY
