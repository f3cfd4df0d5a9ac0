#!/usr/bin/env sh
# The browser tests drive Debian's Chromium at /usr/bin/chromium. Install it when it is missing and this user can
# (root with apt-get); otherwise say so: the browser tests then skip with that reason (and fail in CI).
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || echo "warning: could not install chromium; the browser tests will not run" >&2
else
    echo "note: /usr/bin/chromium is missing (install Debian's chromium package to run the browser tests)" >&2
fi
exit 0
