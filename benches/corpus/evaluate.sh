#!/usr/bin/env bash
# Measures the bot lists and the device classes on real-world corpora that
# are not in this repository, fetched from the package registries at run time
# (docs/accuracy.md says which are training and which held out):
#   training   CrawlerDetect's crawler fixtures (PyPI crawlerdetect 0.4.2,
#              MIT), Matomo's bot fixtures, crawler-user-agents' examples; the
#              training halves of CrawlerDetect's device fixtures and Matomo
#              Device Detector's browser fixtures (PyPI device-detector 6.5.1,
#              LGPL: read, never shipped), Matomo's odd device lines
#   held out   the other halves, Matomo's even device lines, intoli's
#              user-agents, and benches/corpus/heldout.sh's corpora
# Usage: bash benches/corpus/evaluate.sh [WORKDIR]   (needs pip, npm, python3 with PyYAML)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
t="$work/pkg"
mkdir -p "$t"

if [ ! -s "$work/cd-crawlers.txt" ]; then
  pip download -q --no-deps --no-binary :all: -d "$t" crawlerdetect==0.4.2
  tar xzf "$t/crawlerdetect-0.4.2.tar.gz" -C "$t"
  cp "$t/crawlerdetect-0.4.2/tests/fixtures/user_agent/crawlers.txt" "$work/cd-crawlers.txt"
  cp "$t/crawlerdetect-0.4.2/tests/fixtures/user_agent/devices.txt" "$work/cd-devices.txt"
fi
if [ ! -s "$work/matomo-devices.tsv" ]; then
  pip download -q --no-deps --no-binary :all: -d "$t" device-detector==6.5.1
  tar xzf "$t/device_detector-6.5.1.tar.gz" -C "$t"
  python3 - "$t/device_detector-6.5.1/device_detector/tests/fixtures/upstream" "$work" <<'PY'
import glob, os, sys, yaml
loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
bots, browsers = set(), set()
for f in glob.glob(os.path.join(sys.argv[1], "*.yml")):
    for e in yaml.load(open(f), Loader=loader) or []:
        ua = str(e.get("user_agent") or "").strip("\r\n")
        if not ua:
            continue
        if e.get("bot"):
            bots.add(ua)
        elif (e.get("client") or {}).get("type") == "browser":
            browsers.add(ua)
open(os.path.join(sys.argv[2], "matomo-bots.txt"), "w").write("\n".join(sorted(bots)) + "\n")
open(os.path.join(sys.argv[2], "matomo-browsers.txt"), "w").write("\n".join(sorted(browsers)) + "\n")
# Device labels (Matomo's device types) for the device classes, bots left out.
devices = {}
for f in glob.glob(os.path.join(sys.argv[1], "*.yml")):
    for e in yaml.load(open(f), Loader=loader) or []:
        ua = str(e.get("user_agent") or "").strip("\r\n")
        kind = (e.get("device") or {}).get("type") or ""
        if ua and kind and not e.get("bot") and "\t" not in ua:
            devices[ua] = kind
open(os.path.join(sys.argv[2], "matomo-devices.tsv"), "w").write("".join(f"{k}\t{u}\n" for u, k in sorted(devices.items())))
PY
fi
if [ ! -s "$work/intoli-devices.tsv" ]; then
  pip download -q --no-deps --only-binary :all: -d "$t" crawler-user-agents==1.67.0
  python3 -m zipfile -e "$t"/crawler_user_agents-1.67.0-py3-none-any.whl "$t/cua"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write("\n".join(sorted({i for e in d for i in e["instances"]}))+"\n")' \
    "$t/cua/crawleruseragents/crawler-user-agents.json" "$work/cua-instances.txt"
  (cd "$t" && npm pack --silent user-agents@2.1.198 >/dev/null && tar xzf user-agents-2.1.198.tgz package/dist/user-agents.json)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write("\n".join(sorted({e["userAgent"] for e in d}))+"\n")' \
    "$t/package/dist/user-agents.json" "$work/intoli-browsers.txt"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write("".join(e["deviceCategory"]+"\t"+e["userAgent"]+"\n" for e in d))' \
    "$t/package/dist/user-agents.json" "$work/intoli-devices.tsv"
fi

# Training and held-out halves (benches/corpus/split.py says how they are
# chosen). The lists are tuned looking at the training halves only.
split() { python3 benches/corpus/split.py "$1" "$work/$2.txt" "$work/$2-train.txt" "$work/$2-heldout.txt"; }
split crawlers cd-crawlers
split browsers matomo-browsers
split browsers cd-devices
awk 'NR % 2 == 1' "$work/matomo-devices.tsv" > "$work/matomo-devices-odd.tsv"
awk 'NR % 2 == 0' "$work/matomo-devices.tsv" > "$work/matomo-devices-even.tsv"

# Words that name automation, to count the held-out "browsers" (labelled by
# WhatIsMyBrowser's own parser) that are plainly not people.
automation='phantomjs|headless|crawler|nutch|selenium|wkhtml|burpcollaborator|spider|bot|hardenize|neustar|scan|webthumb|linkcheck|python|curl|wget|java|perl|go-http|http.?client|libwww|okhttp|axios|scrapy|fetch|monitor|check|preview'
cargo build -q --release --example ua_accuracy --example device_accuracy
run() { ./target/release/examples/ua_accuracy "$@"; }
echo "== training: CrawlerDetect crawlers (all of it: its misses were read while tuning),"
echo "   Matomo bots, crawler-user-agents examples / the browser corpora's training halves"
run crawlers "$work/cd-crawlers.txt" -- browsers "$work/matomo-browsers-train.txt" "$work/cd-devices-train.txt"
run crawlers "$work/matomo-bots.txt" "$work/cua-instances.txt"
echo "== held out: the browser corpora's held-out halves, intoli's browsers"
run -- browsers "$work/matomo-browsers-heldout.txt" "$work/cd-devices-heldout.txt"
run -- browsers "$work/intoli-browsers.txt"
# Held out from every list and from all tuning (benches/corpus/heldout.sh):
# WhatIsMyBrowser's 2018 database, Cloudflare Radar's bot directory,
# BrowserStack's browsers; their training halves were read while tuning.
bash benches/corpus/heldout.sh "$work/heldout" >/dev/null
split crawlers heldout/heldout-crawlers
split browsers heldout/heldout-browsers
echo "== training halves of the held-out corpora"
run crawlers "$work/heldout/heldout-crawlers-train.txt" -- browsers "$work/heldout/heldout-browsers-train.txt"
echo "== held out: their other halves (a browser blocked or flagged that names automation"
echo "   is counted by: grep -ciE \"$automation\")"
run crawlers "$work/heldout/heldout-crawlers-heldout.txt" -- browsers "$work/heldout/heldout-browsers-heldout.txt"
SHOW=1000000 run -- browsers "$work/heldout/heldout-browsers-heldout.txt" | grep '^blocked' | grep -ciE "$automation" || true

echo "== device classes, training: Matomo's odd lines"
./target/release/examples/device_accuracy "$work/matomo-devices-odd.tsv"
echo "== device classes, held out: Matomo's even lines, intoli's real-traffic labels"
./target/release/examples/device_accuracy "$work/matomo-devices-even.tsv"
./target/release/examples/device_accuracy "$work/intoli-devices.tsv"
