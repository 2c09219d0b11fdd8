#!/usr/bin/env bash
# Measures the default bot list on real-world corpora that are not in this
# repository, fetched from the package registries at run time:
#   crawlers  CrawlerDetect's test fixtures (PyPI crawlerdetect 0.4.2, MIT):
#             held out, isbot is not built from them
#   browsers  CrawlerDetect's device fixtures, and Matomo Device Detector's
#             browser fixtures (PyPI device-detector 6.5.1, LGPL: read, never
#             shipped)
#   also      crawler-user-agents' examples and intoli's user-agents: NOT held
#             out (isbot is tuned on the first, the second was filtered with
#             isbot), shown for comparison only
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

cargo build -q --release --example ua_accuracy --example device_accuracy
run() { ./target/release/examples/ua_accuracy "$@"; }
echo "== held out: CrawlerDetect crawlers / CrawlerDetect devices"
run crawlers "$work/cd-crawlers.txt" -- browsers "$work/cd-devices.txt"
echo "== held out browsers: Matomo browser fixtures"
run -- browsers "$work/matomo-browsers.txt"
echo "== not held out (comparison): Matomo bots, crawler-user-agents examples / intoli browsers"
run crawlers "$work/matomo-bots.txt" -- browsers "$work/intoli-browsers.txt"
run crawlers "$work/cua-instances.txt"

echo "== device classes: intoli's real-traffic labels (desktop/mobile/tablet)"
./target/release/examples/device_accuracy "$work/intoli-devices.tsv"
echo "== device classes: Matomo's long tail of labelled devices (a few TV tokens were"
echo "   chosen looking at its odd lines: its even lines are the held-out half)"
awk 'NR % 2 == 0' "$work/matomo-devices.tsv" > "$work/matomo-devices-even.tsv"
./target/release/examples/device_accuracy "$work/matomo-devices-even.tsv"
