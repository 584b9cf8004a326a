#!/usr/bin/env bash
# The test command: formatting, lints and every test of the workspace, against a local Postgres.
#
#   scripts/test.sh [extra `cargo test` arguments]
#
# On a fresh machine it starts the installed Postgres if it is down, drops test databases left
# by earlier runs, installs Debian's chromium if it is missing, prepares the Python virtualenv
# (the simulator's moto tests, schemathesis, Playwright), then runs `cargo fmt --check`, the layer
# check, Spectral with the OWASP ruleset over the committed OpenAPI document (installed with npm
# into .spectral/), `cargo clippy -D warnings`, `cargo test --workspace`, the console's browser
# tests (tests/browser/) and schemathesis against the running service (scripts/fuzz-api.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
fail() { printf '\n\033[31mFAILED: %s\033[0m\n' "$*" >&2; exit 1; }

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export AWS_EC2_METADATA_DISABLED=true

section "Postgres"
if ! pg_isready -q -h 127.0.0.1; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        version="$(ls /etc/postgresql | sort -V | tail -n 1)"
        echo "Postgres is not running; starting cluster ${version}/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start \
            || fail "could not start Postgres ${version}/main"
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 && break
            sleep 1
        done
    fi
fi
pg_isready -h 127.0.0.1 || fail "Postgres does not accept connections on 127.0.0.1:5432 (set TEST_DATABASE_URL to use another server)"

# Test databases of earlier runs. Those with open connections belong to a run in progress (another
# terminal, another engineer on the same server) and are left alone.
leftovers="$(psql "$TEST_DATABASE_URL" -Atc "
    select datname from pg_database d
    where datname like 'ivsp\_test\_%'
      and not exists (select 1 from pg_stat_activity a where a.datname = d.datname)")" \
    || fail "cannot connect to $TEST_DATABASE_URL"
if [ -n "$leftovers" ]; then
    echo "dropping $(wc -l <<<"$leftovers") test database(s) left by earlier runs"
    while read -r db; do
        psql "$TEST_DATABASE_URL" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 \
            || echo "  $db is in use again; left alone"
    done <<<"$leftovers"
fi

section "docker compose config"
# Validates docker-compose.yml (syntax, profiles, depends_on conditions) when the compose plugin
# is installed. Nothing is built or started: these machines run no container engine.
if docker compose version >/dev/null 2>&1; then
    docker compose --profile sim config -q \
        || fail "docker-compose.yml is invalid (docker compose --profile sim config)"
    echo "docker-compose.yml is valid (docker compose config, default services and profile sim)"
else
    echo "skipped: the docker compose plugin is not installed (\`docker compose version\` failed), so docker-compose.yml was not validated"
fi

section "Chromium (Debian's package, for the console's browser tests)"
# Playwright drives this browser (executable_path): its own browser downloads cannot work here.
if [ -x /usr/bin/chromium ]; then
    echo "/usr/bin/chromium is installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
else
    [ "$(id -u)" = 0 ] || fail "/usr/bin/chromium is missing and this is not root: run apt-get install -y --no-install-recommends chromium"
    command -v apt-get >/dev/null || fail "/usr/bin/chromium is missing and there is no apt-get: install Debian's chromium package"
    echo "installing Debian's chromium"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y --no-install-recommends chromium >/dev/null; }; } \
        || fail "apt-get could not install chromium"
    [ -x /usr/bin/chromium ] || fail "apt-get installed chromium but /usr/bin/chromium is missing"
    echo "installed: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
fi

section "Python virtualenv (.venv: the simulator's moto tests, fuzzing, the browser tests)"
requirements=scripts/requirements-test.txt
wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
stamp=.venv/.requirements.sha256
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ]; then
    echo ".venv is up to date with $requirements"
else
    echo "installing $requirements into .venv"
    python3 -m venv .venv || fail "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    .venv/bin/pip install --quiet --disable-pip-version-check -r "$requirements" \
        || fail "pip could not install $requirements"
    echo "$wanted" >"$stamp"
fi
export IVS_TEST_VENV="$PWD/.venv"

section "cargo fmt --check"
cargo fmt --all -- --check || fail "formatting differs; run: cargo fmt --all"

section "layers (no cycles between top-level modules; only the imports the table allows)"
python3 scripts/check-layers.py --self-test || fail "the layer checker's self-test failed"
python3 scripts/check-layers.py || fail "a module imports what its layer may not (see scripts/check-layers.py)"

section "Spectral (OWASP API Security ruleset) over the committed OpenAPI document"
# Installed from the npm registry into .spectral/ (git-ignored), pinned, once per version pair.
spectral_packages="@stoplight/spectral-cli@6.16.3 @stoplight/spectral-owasp-ruleset@2.0.1"
spectral=.spectral/node_modules/.bin/spectral
if [ -x "$spectral" ] && [ "$(cat .spectral/.versions 2>/dev/null)" = "$spectral_packages" ]; then
    echo ".spectral is up to date ($spectral_packages)"
else
    command -v npm >/dev/null || fail "npm is needed for Spectral (install Node.js 20 or later)"
    echo "installing $spectral_packages into .spectral"
    mkdir -p .spectral
    # shellcheck disable=SC2086 # one word per package
    npm install --prefix .spectral --no-audit --no-fund --ignore-scripts --loglevel=error \
        $spectral_packages >/dev/null || fail "npm could not install $spectral_packages"
    echo "$spectral_packages" >.spectral/.versions
fi
# The ruleset extends the OWASP package by name: node finds it through NODE_PATH.
NODE_PATH="$PWD/.spectral/node_modules" "$spectral" lint --ruleset openapi/.spectral.yaml \
    --fail-severity error openapi/openapi.json \
    || fail "Spectral found errors in openapi/openapi.json (rules and their exceptions: openapi/.spectral.yaml)"

section "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings || fail "clippy found problems"

section "cargo test"
cargo test --workspace "$@" || fail "tests failed"

section "console in a real browser (pytest + Playwright, headless Debian Chromium)"
# Against the debug binary `cargo test --workspace` just built, in dev mode on a fresh database.
(cd tests/browser && ../../.venv/bin/python -m pytest -q) || fail "browser tests failed (screenshots: target/console-screenshots/, service logs: target/browser-tests/)"

section "API fuzzing (schemathesis against the committed OpenAPI document)"
bash scripts/fuzz-api.sh || fail "schemathesis found responses that break the OpenAPI document or 5xx"

section "all checks passed"
