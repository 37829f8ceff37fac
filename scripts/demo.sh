#!/usr/bin/env bash
# The main job on the embedded default: set up, replay the bundled captures into a SQLite inventory, print the
# inventory and the coverage report, then serve the API and dashboard on http://127.0.0.1:8080/ (Ctrl-C stops).
#   bash scripts/demo.sh [--no-serve] [capture files...]
set -euo pipefail
cd "$(dirname "$0")/.."
OTSCOPE_BROWSER_TESTS=0 bash scripts/setup.sh
serve=1
if [ "${1:-}" = "--no-serve" ]; then serve=0; shift; fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(pcaps/*.pcap)
db="sqlite:///$(pwd)/otscope.db"
.venv/bin/otscope replay "${files[@]}" --db "$db"
.venv/bin/otscope assets --db "$db"
.venv/bin/otscope coverage --db "$db"
# security advisories (issue 18): CSAF 2.0 files read offline from OTSCOPE_ADVISORIES, by default the CISA
# advisories beside the project (../shared/advisories/csaf) when they are there; never copied into the project
advisories="${OTSCOPE_ADVISORIES:-../shared/advisories/csaf}"
if [ -e "$advisories" ]; then
  .venv/bin/otscope advisories import "$advisories" --db "$db" | tail -n 1
  .venv/bin/otscope vulns --db "$db" --no-possible
fi
if [ $serve = 1 ]; then
  exec .venv/bin/otscope serve --db "$db" --host 127.0.0.1 --port "${PORT:-8080}"
fi
