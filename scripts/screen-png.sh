#!/bin/bash
# A terminal screen saved as text (mqctl top's, by the Python client's tests
# under MQ_TEST_SCREENSHOTS) drawn as a PNG by headless Chromium (Debian's
# chromium), for the README:
#
#   bash scripts/screen-png.sh /tmp/screens/mqctl-top.txt doc/images/mqctl-top.png
set -euo pipefail
text=$1 png=$2
html=$(mktemp --suffix=.html)
trap 'rm -f "$html"' EXIT
# the header lines of the tables in reverse video, as on the terminal
read -r cols rows < <(python3 - "$text" "$html" <<'PY'
import html, sys
lines = open(sys.argv[1], encoding="utf-8").read().rstrip().splitlines()
out = []
for line in lines:
    cell = html.escape(line)
    if line.startswith(("QUEUE", "STREAM")):
        cell = f'<span class="h">{cell.ljust(100)}</span>'
    out.append(cell)
page = ("<!doctype html><meta charset=utf-8><style>body{margin:0;background:#1d1f21}"
        "pre{margin:0;padding:12px 14px;color:#d0d0d0;font:15px/19px 'DejaVu Sans Mono',"
        "monospace}.h{background:#2e7d32;color:#fff}</style><pre>" + "\n".join(out) + "</pre>")
open(sys.argv[2], "w", encoding="utf-8").write(page)
print(max(100, max(len(x) for x in lines)), len(lines))
PY
)
width=$((cols * 9 + 30)) height=$((rows * 19 + 26))
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
	--window-size="$width,$height" --screenshot="$png" "file://$html" 2>/dev/null
echo "$png: ${width}x$height"
