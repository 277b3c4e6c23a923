#!/usr/bin/env bash
# Checks that a streamsim HTML report renders in headless Chromium: no console message (the report
# has no script, so any message is an error: a script that should not be there, a resource its
# Content-Security-Policy blocked, an uncaught exception), and the rendered DOM holds the SVG
# timeline. Optionally saves a screenshot to look at.
#
# Usage: scripts/check-html.sh FILE.html [--screenshot OUT.png]
#
# Chromium: $CHROMIUM if set, else chromium / chromium-browser / google-chrome on PATH. Missing, it
# is installed with apt-get when running as root (Debian's `chromium` package), else the script
# says how and exits 2.
#
# Exit 0: renders cleanly. 1: console messages, or no timeline in the DOM. 2: usage or setup.
set -euo pipefail

usage() {
    echo "usage: $0 FILE.html [--screenshot OUT.png]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
html=$1
shift
screenshot=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --screenshot)
            [[ $# -ge 2 ]] || usage
            screenshot=$2
            shift 2
            ;;
        *) usage ;;
    esac
done
if [[ ! -f $html ]]; then
    echo "check-html: no such file: $html" >&2
    exit 2
fi
html_path=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
url="file://$html_path"

find_chromium() {
    if [[ -n ${CHROMIUM:-} ]]; then
        echo "$CHROMIUM"
        return
    fi
    local candidate
    for candidate in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return
        fi
    done
}

chromium=$(find_chromium)
if [[ -z $chromium ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "check-html: installing chromium with apt-get..." >&2
        apt-get install -y --no-install-recommends chromium >/dev/null ||
            { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }
        chromium=$(find_chromium)
    fi
    if [[ -z $chromium ]]; then
        echo "check-html: Chromium not found. Install it (Debian/Ubuntu: sudo apt-get install chromium)," >&2
        echo "or point CHROMIUM at a Chromium or Chrome binary." >&2
        exit 2
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Headless, no network, no first-run work, a throwaway profile; console messages go to stderr.
flags=(
    --headless
    --no-sandbox
    --disable-gpu
    --disable-background-networking
    --disable-component-update
    --disable-sync
    --disable-extensions
    --no-first-run
    --no-default-browser-check
    --host-resolver-rules="MAP * ~NOTFOUND"
    --user-data-dir="$work/profile"
    --enable-logging=stderr
    --v=0
)

status=0
if ! timeout 120 "$chromium" "${flags[@]}" --dump-dom "$url" >"$work/dom.html" 2>"$work/stderr.txt"; then
    echo "check-html: FAIL: Chromium did not render $html (exit status above); its log:" >&2
    cat "$work/stderr.txt" >&2
    exit 1
fi

# Chromium logs every console message of the page as `...:CONSOLE...] "message", source: ...`.
if grep -E ':CONSOLE[:(]' "$work/stderr.txt" >"$work/console.txt"; then
    echo "check-html: FAIL: console messages while rendering $html:" >&2
    sed -E 's/^\[[^]]*\] //' "$work/console.txt" >&2
    status=1
fi
if grep -qi 'uncaught' "$work/stderr.txt"; then
    echo "check-html: FAIL: uncaught exception while rendering $html" >&2
    status=1
fi

count() { { grep -o "$1" "$work/dom.html" || true; } | wc -l; }
svgs=$(count '<svg[ >]')
lanes=$(count '<g class="lane"')
proofs=$(count '<a class="proof"')
if [[ $svgs -ne 1 ]] || ! grep -q '<svg class="timeline"' "$work/dom.html"; then
    echo "check-html: FAIL: the rendered DOM has $svgs <svg> elements, expected the one timeline" >&2
    status=1
fi

if [[ -n $screenshot ]]; then
    # A tall window: the timeline and the first anomalies.
    if ! timeout 120 "$chromium" "${flags[@]}" --hide-scrollbars --window-size=1400,1800 \
        --screenshot="$screenshot" "$url" >/dev/null 2>&1; then
        echo "check-html: FAIL: no screenshot" >&2
        status=1
    else
        echo "check-html: screenshot: $screenshot"
    fi
fi

if [[ $status -eq 0 ]]; then
    echo "check-html: OK: $html renders without console messages; timeline with $lanes lanes and $proofs anomaly markers"
fi
exit $status
