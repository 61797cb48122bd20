#!/usr/bin/env bash
# authgate's load harness: authgate against the Node stack, graphql-yoga and a
# bare axum handler, side by side, driven by wrk. See benches/README.md.
#
#   benches/load/run.sh [--smoke] [--debug] [--duration SECS] [--connections N]
#                       [--threads N] [--repeat N] [--warmup SECS] [--pin | --no-pin]
#                       [--workloads "me orders reject mixed many-docs login unknown-kid"]
#                       [--workers "1 2"] [--redis] [--no-peers] [--idp-hashing fast|argon2]
#                       [--baseline PATH] [--perf DIR]
#
# Everything listens on 127.0.0.1 on free ports and is stopped (by pid) at exit.
# With --pin (the default on 2+ CPUs) the servers under test run on CPU 0 and
# wrk, the stub upstream and the emulator on the other CPUs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/benches/load"
cd "$ROOT"

DURATION=10
CONNECTIONS=32
THREADS=2
LOGIN_CONNECTIONS=1
WORKLOADS="me orders reject mixed many-docs login unknown-kid"
REPEAT=1
WARMUP=2         # seconds of unmeasured load per workload and server, before the first repetition
SMOKE=0
DEBUG=0
TOKEN_COUNT=10000
WORKERS=""       # extra authgate instances with TOKIO_WORKER_THREADS=N, one per N
BASELINE=""      # another authgate binary (an older build), run as authgate-base
REDIS=0          # an extra authgate instance with the Redis store
PEERS=1          # the Node peers and bare axum
IDP_HASHING=fast # the emulator's password hashing (fast: benchmark-only double)
PERF_DIR=""      # perf record of every authgate run (self time by symbol), one file per run
PIN=auto         # servers on CPU 0, load on the rest (auto: when nproc >= 2 and no --workers)

while [ $# -gt 0 ]; do
    case "$1" in
    --smoke) SMOKE=1; DEBUG=1 ;;
    --debug) DEBUG=1 ;;
    --workers) WORKERS="$2"; shift ;;
    --baseline) BASELINE="$2"; shift ;;
    --perf) PERF_DIR="$2"; shift ;;
    --redis) REDIS=1 ;;
    --no-peers) PEERS=0 ;;
    --pin) PIN=1 ;;
    --no-pin) PIN=0 ;;
    --idp-hashing) IDP_HASHING="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --connections) CONNECTIONS="$2"; shift ;;
    --threads) THREADS="$2"; shift ;;
    --workloads) WORKLOADS="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    DURATION=1
    TOKEN_COUNT=1000
    REPEAT=1
    WARMUP=0
fi
[[ "$WARMUP" =~ ^[0-9]+$ ]] || { echo "--warmup: whole seconds" >&2; exit 2; }
case "$IDP_HASHING" in fast | argon2) ;; *) echo "--idp-hashing: fast or argon2" >&2; exit 2 ;; esac
for n in $WORKERS; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "--workers: positive integers, e.g. \"1 2\"" >&2; exit 2; }
done

log() { printf '[load] %s\n' "$*" >&2; }
die() { printf '[load] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
# apt_install PACKAGE...: Debian packages, as root or through sudo.
apt_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "$* missing, and neither root nor sudo: apt-get install $*"
        sudo=sudo
    fi
    command -v apt-get >/dev/null || die "$* missing and no apt-get: install $* by hand"
    log "installing $* from Debian"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@" >/dev/null 2>&1 || {
        $sudo apt-get update >/dev/null &&
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "$@" >/dev/null
    } || die "could not install $*"
}
for tool in wrk curl jq; do
    command -v "$tool" >/dev/null || apt_install "$tool"
done
if [ -n "$PERF_DIR" ]; then
    command -v perf >/dev/null || apt_install linux-perf
    mkdir -p "$PERF_DIR"
fi
if [ "$REDIS" = 1 ] && ! command -v redis-server >/dev/null; then
    apt_install redis-server
fi
for tool in node npm cargo; do
    command -v "$tool" >/dev/null || die "$tool is missing (the Node peers need Node >= 20 with npm)"
done
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node $(node --version) is too old: the Node peers need Node >= 20"

# Pinning: every server under test (each authgate, bare axum, the Node peers)
# on CPU 0, the load side (wrk, the stub upstream, the emulator, redis) on the
# others, so the server's CPU and the load generator's do not compete and the
# ratios between servers hold from run to run. `--workers` (the scaling note,
# about cores) runs unpinned unless --pin is given.
CPUS=$(nproc)
if [ "$PIN" = auto ]; then
    PIN=0
    [ "$CPUS" -ge 2 ] && [ -z "$WORKERS" ] && PIN=1
fi
if [ "$PIN" = 1 ] && [ "$CPUS" -lt 2 ]; then
    log "--pin needs 2 CPUs, this machine has $CPUS: running unpinned"
    PIN=0
fi
if [ "$PIN" = 1 ] && ! command -v taskset >/dev/null; then
    log "taskset (util-linux) is missing: running unpinned"
    PIN=0
fi
ON_SERVER=()
ON_LOAD=()
PINNING="unpinned"
if [ "$PIN" = 1 ]; then
    LOAD_CPUS=1
    [ "$CPUS" -gt 2 ] && LOAD_CPUS="1-$((CPUS - 1))"
    ON_SERVER=(taskset -c 0)
    ON_LOAD=(taskset -c "$LOAD_CPUS")
    PINNING="pinned: servers on CPU 0, load on CPU $LOAD_CPUS"
fi
log "$PINNING"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ "$DEBUG" = 1 ]; then
    # the debug binaries `cargo test --all-targets` already built (CI): no
    # release build. Numbers from them say nothing; the answers still count.
    log "building authgate and the bare axum baseline (debug; a no-op when cargo test built them)"
    cargo build --quiet --bin authgate --example bare_axum
    PROFILE_DIR=debug
else
    log "building authgate and the bare axum baseline (release)"
    cargo build --release --quiet --bin authgate --example bare_axum
    PROFILE_DIR=release
fi
AUTHGATE="$CARGO_TARGET_DIR/$PROFILE_DIR/authgate"
BARE="$CARGO_TARGET_DIR/$PROFILE_DIR/examples/bare_axum"
if [ ! -x "$AUTHGATE" ] || [ ! -x "$BARE" ]; then
    die "no $AUTHGATE or $BARE after the build"
fi

if [ ! -d "$HERE/node/node_modules" ]; then
    log "installing the Node peers' pinned dependencies (npm ci)"
    (cd "$HERE/node" && npm ci --no-audit --no-fund --silent)
fi

# ---------------------------------------------------------------- processes
WORK=$(mktemp -d -t authgate-load.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# wait_port NAME PID PORT: poll until the port accepts connections (or the process dies).
wait_port() {
    local name=$1 pid=$2 port=$3 i
    for i in $(seq 1 300); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$WORK/$name.log" >&2 || true
            die "$name exited during start-up (log above)"
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not listen on $port within 30 s"
}

# start NAME PORT COMMAND...: run in the background, log to $WORK/NAME.log.
declare -A PID_OF PORT_OF
start() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    PID_OF[$name]=$pid
    PORT_OF[$name]=$port
    wait_port "$name" "$pid" "$port"
    log "$name: pid $pid on 127.0.0.1:$port, CPUs $(awk '/^Cpus_allowed_list/ {print $2}' "/proc/$pid/status")"
}

# The emulator and the stub run from a copy of the binary: run from the
# measured file itself they shared its text pages with the reference
# instance only, and an A/A run (--baseline a copy of the same build) then
# read the reference 3-5 % slower than its identical twin.
TOOLS="$WORK/authgate-tools"
cp "$AUTHGATE" "$TOOLS"

EMU_PORT=$(free_port)
# password_hashing = "fast": benchmark-only Argon2 cost, so the IdP answers in
# about a millisecond (two RS256 signatures) and authgate's login overhead over
# it is measurable; the tokens are the same real RS256 tokens.
start emulator "$EMU_PORT" "${ON_LOAD[@]}" env AUTHGATE__TELEMETRY__FILTER=warn \
    AUTHGATE__EMULATOR__DATA_DIR="$WORK/emulator" \
    AUTHGATE__EMULATOR__PASSWORD_HASHING="$IDP_HASHING" \
    "$TOOLS" emulator --port "$EMU_PORT" --ephemeral
EMU="http://127.0.0.1:$EMU_PORT"

STUB_PORT=$(free_port)
start stub "$STUB_PORT" "${ON_LOAD[@]}" env AUTHGATE__TELEMETRY__FILTER=warn \
    "$TOOLS" example-upstream --port "$STUB_PORT"
STUB="http://127.0.0.1:$STUB_PORT"

if [ "$REDIS" = 1 ]; then
    REDIS_PORT=$(free_port)
    start redis "$REDIS_PORT" "${ON_LOAD[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --save "" --appendonly no --daemonize no
fi

# start_authgate NAME [VAR=VALUE...]: one gateway instance, its own ports.
declare -A METRICS_OF
AUTHGATES=()
start_authgate() {
    local name=$1 port metrics
    shift
    port=$(free_port)
    metrics=$(free_port)
    METRICS_OF[$name]=$metrics
    AUTHGATES+=("$name")
    start "$name" "$port" "${ON_SERVER[@]}" env "$@" \
    AUTHGATE__SERVER__LISTEN="127.0.0.1:$port" \
    AUTHGATE__IDENTITY__PROVIDER=auth0 \
    AUTHGATE__AUTH0__BASE_URL="$EMU/" \
    AUTHGATE__AUTH0__CLIENT_ID=authgate-dev \
    AUTHGATE__AUTH0__CLIENT_SECRET=dev-secret-change-me \
    AUTHGATE__DEVELOPMENT__EXAMPLE_UPSTREAM="" \
    AUTHGATE__DATASOURCES__ORDERS__URL="$STUB" \
    AUTHGATE__DATASOURCES__CATALOG__URL="$STUB/graphql" \
    AUTHGATE__GUARD__SNAPSHOT_PATH="$WORK/jwks-snapshot-$name.json" \
    AUTHGATE__TELEMETRY__FILTER=warn \
    AUTHGATE__METRICS__ENABLED=true \
    AUTHGATE__METRICS__LISTEN="127.0.0.1:$metrics" \
    AUTHGATE__LIMITS__REQUESTS__PER_IP=100000000 \
    AUTHGATE__LIMITS__REQUESTS__PER_PRINCIPAL=100000000 \
    AUTHGATE__LIMITS__LOGIN__PER_IP=100000000 \
    AUTHGATE__LIMITS__LOGIN__PER_ACCOUNT=100000000 \
    "${AG_BIN:-$AUTHGATE}" serve
}
# the reference instance: the default runtime (one worker per core), memory store
start_authgate authgate
if [ -n "$BASELINE" ]; then
    # the same settings, another build: a change measured against what it
    # replaces, interleaved in the same run
    [ -x "$BASELINE" ] || die "--baseline $BASELINE: not an executable"
    AG_BIN="$BASELINE" start_authgate authgate-base
fi
for n in $WORKERS; do
    # #[tokio::main]'s multi-thread runtime takes its worker count from this
    start_authgate "authgate-w$n" TOKIO_WORKER_THREADS="$n"
done
if [ "$REDIS" = 1 ]; then
    start_authgate authgate-redis AUTHGATE__STORE__BACKEND=redis \
        AUTHGATE__STORE__URL="redis://127.0.0.1:$REDIS_PORT" \
        AUTHGATE__STORE__KEY_PREFIX="bench:"
fi
AG="http://127.0.0.1:${PORT_OF[authgate]}"

if [ "$PEERS" = 1 ]; then
    BARE_PORT=$(free_port)
    start bare-axum "$BARE_PORT" "${ON_SERVER[@]}" "$BARE" "$BARE_PORT"
fi

GQL_JSON='{"query":"mutation { login(input:{email:\"user@example.com\", password:\"User-Passw0rd!\"}) { accessToken } }"}'
TOKEN=$(curl -sf -H 'Content-Type: application/json' -d "$GQL_JSON" "$AG/graphql" | jq -er '.data.login.accessToken') ||
    die "login through authgate failed: $(curl -s -H 'Content-Type: application/json' -d "$GQL_JSON" "$AG/graphql")"
CLAIMS=$(printf '%s' "$TOKEN" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null || true)
# base64 -d needs padding: retry with it
if ! printf '%s' "$CLAIMS" | jq -e . >/dev/null 2>&1; then
    p=$(printf '%s' "$TOKEN" | cut -d. -f2 | tr '_-' '/+')
    while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
    CLAIMS=$(printf '%s' "$p" | base64 -d)
fi
SUB=$(printf '%s' "$CLAIMS" | jq -r .sub)
ISSUER=$(printf '%s' "$CLAIMS" | jq -r .iss)
AUDIENCE=https://api.authgate.local
log "token for $SUB issued by $ISSUER"

PEER_SCRIPTS="node-stack:stack.mjs yoga:yoga.mjs"
[ "$PEERS" = 1 ] || PEER_SCRIPTS=""
for peer in $PEER_SCRIPTS; do
    name=${peer%%:*}
    script=${peer#*:}
    port=$(free_port)
    start "$name" "$port" "${ON_SERVER[@]}" env PORT="$port" JWKS_URL="$EMU/.well-known/jwks.json" \
        ISSUER="$ISSUER" AUDIENCE="$AUDIENCE" ORDERS_URL="$STUB" NODE_ENV=production \
        node "$HERE/node/$script"
done

node "$HERE/node/tokens.mjs" "$TOKEN" "$TOKEN_COUNT" "$WORK"

# Many distinct valid tokens for `mixed` (each a password grant at the emulator).
MIXED_TOKENS="$WORK/valid-tokens.txt"
: >"$MIXED_TOKENS"
if [[ " $WORKLOADS " == *" mixed "* ]]; then
    n=20
    [ "$SMOKE" = 1 ] && n=3
    log "minting $n distinct valid tokens for mixed"
    for _ in $(seq 1 "$n"); do
        curl -sf -H 'Content-Type: application/json' -d "$GQL_JSON" "$AG/graphql" |
            jq -er '.data.login.accessToken' >>"$MIXED_TOKENS"
        sleep 1 # tokens carry no jti: a new `iat` second makes a new token
    done
    # tokens minted within the same second are identical (no jti): keep distinct ones
    sort -u -o "$MIXED_TOKENS" "$MIXED_TOKENS"
    log "$(wc -l <"$MIXED_TOKENS") distinct valid tokens"
fi

# many-docs: the same stream of distinct documents for every server; the
# type condition of its fragments is authgate's `Viewer` or the peers' `Me`.
if [[ " $WORKLOADS " == *" many-docs "* ]]; then
    for type in Viewer Me; do
        node "$HERE/node/docs.mjs" "$WORK/many-docs-$type.txt" "$type"
    done
fi

# ---------------------------------------------------------------- measures
url_of() {
    case "$1" in
    emulator) echo "$EMU/oauth/token" ;;
    *) echo "http://127.0.0.1:${PORT_OF[$1]}/graphql" ;;
    esac
}
rss_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# cpu_ns PID: "TID NS" per thread, NS the time it has run (the first field of
# its schedstat, in ns): far finer than the clock ticks of /proc/PID/stat.
# Empty when the kernel has no schedstat.
cpu_ns() {
    local f
    for f in /proc/"$1"/task/*/schedstat; do
        [ -r "$f" ] || continue
        f=${f%/schedstat}
        awk -v tid="${f##*/}" '{print tid, $1}' "$f/schedstat" 2>/dev/null || true
    done
}
# (%.0f, not %d: mawk clamps %d to 2^31 - 1, about 2 s of CPU in ns)
# cpu_ns_delta BEFORE AFTER: ns run between two cpu_ns snapshots; a thread
# started in between counts from 0, one that ended in between (its last
# moments) is lost: tiny next to a run.
cpu_ns_delta() {
    awk 'NR == FNR {before[$1] = $2; next} {s += $2 - ($1 in before ? before[$1] : 0)} END {printf "%.0f", s}' "$1" "$2"
}
# doc_cache NAME: "parse_hits parse_misses validate_hits validate_misses"
# from an authgate's /metrics (empty for others).
doc_cache() {
    case "$1" in
    authgate*)
        local text
        # a failed scrape leaves the column empty rather than stopping the run
        text=$(curl -sf "http://127.0.0.1:${METRICS_OF[$1]}/metrics") || return 0
        printf '%s\n' "$text" | awk '
            $1 == "authgate_document_cache_hits_total{step=\"parse\"}" {ph = $2}
            $1 == "authgate_document_cache_misses_total{step=\"parse\"}" {pm = $2}
            $1 == "authgate_document_cache_hits_total{step=\"validate\"}" {vh = $2}
            $1 == "authgate_document_cache_misses_total{step=\"validate\"}" {vm = $2}
            END {print ph + 0, pm + 0, vh + 0, vm + 0}'
        ;;
    *) echo "" ;;
    esac
}
docs_file_of() {
    case "$1" in
    authgate*) echo "$WORK/many-docs-Viewer.txt" ;;
    *) echo "$WORK/many-docs-Me.txt" ;;
    esac
}
jwks_fetches() {
    case "$1" in
    authgate*) curl -sf "http://127.0.0.1:${METRICS_OF[$1]}/metrics" | awk '$1 == "authgate_jwks_fetches_total" {print $2}' ;;
    node-stack | yoga) curl -sf "http://127.0.0.1:${PORT_OF[$1]}/__stats" | jq -r .jwksFetches ;;
    *) echo "" ;;
    esac
}

ME_BODY='{"query":"{ me { id permissions } }"}'
ORDERS_BODY='{"query":"{ orders { id total } }"}'
TOKEN_BODY=$(jq -nc '{grant_type:"password", username:"user@example.com", password:"User-Passw0rd!",
    client_id:"authgate-dev", client_secret:"dev-secret-change-me", audience:"https://api.authgate.local",
    scope:"openid profile email"}')
EXPECTED_ORDERS=$(curl -sf "$STUB/orders" | jq -c 'map({id, total})')

body_of() {
    case "$1:$2" in
    *:me | *:reject | *:unknown-kid | *:mixed | *:many-docs) echo "$ME_BODY" ;;
    *:orders) echo "$ORDERS_BODY" ;;
    emulator:login) echo "$TOKEN_BODY" ;;
    *:login) echo "$GQL_JSON" ;;
    esac
}

# check SERVER WORKLOAD TOKEN BODY: one request; prints nothing, returns 1 on a wrong answer.
check_one() {
    local server=$1 workload=$2 token=$3 body=$4 out status
    local -a auth=()
    [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
    out=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        "${auth[@]}" -d "$body" "$(url_of "$server")") || return 1
    status=$out
    case "$workload" in
    me | mixed)
        if [ "$server" = bare-axum ]; then
            jq -e '.data.me.id == "auth0|bench"' "$WORK/answer.json" >/dev/null 2>&1
        else
            [ "$status" = 200 ] &&
                jq -e --arg sub "$SUB" '.data.me.id == $sub and (.data.me.permissions | index("read:orders")) != null and (.errors == null)' \
                    "$WORK/answer.json" >/dev/null 2>&1
        fi
        ;;
    many-docs)
        # documents differ in shape; every one selects `me { id }` unaliased
        [ "$status" = 200 ] &&
            jq -e --arg sub "$SUB" '.data.me.id == $sub and (.errors == null)' "$WORK/answer.json" >/dev/null 2>&1
        ;;
    orders)
        [ "$status" = 200 ] &&
            jq -e --argjson want "$EXPECTED_ORDERS" '.data.orders == $want and (.errors == null)' "$WORK/answer.json" >/dev/null 2>&1
        ;;
    reject | unknown-kid)
        # refused: no `me`, at least one error, never a 2xx with data
        jq -e '(.data.me // null) == null and ((.errors // []) | length) > 0' "$WORK/answer.json" >/dev/null 2>&1
        ;;
    login)
        if [ "$server" = emulator ]; then
            [ "$status" = 200 ] && jq -e '.access_token | length > 20' "$WORK/answer.json" >/dev/null 2>&1
        else
            [ "$status" = 200 ] && jq -e '.data.login.accessToken | length > 20' "$WORK/answer.json" >/dev/null 2>&1
        fi
        ;;
    esac
}

# check_sample SERVER WORKLOAD: 5 requests; echoes the number of wrong answers.
check_sample() {
    local server=$1 workload=$2 wrong=0 i token body
    body=$(body_of "$server" "$workload")
    for i in 1 2 3 4 5; do
        case "$workload" in
        reject) token=$(sed -n "$((i * 37))p" "$WORK/bad-signature.txt") ;;
        unknown-kid) token=$(sed -n "$((i * 37))p" "$WORK/unknown-kid.txt") ;;
        login) token="" ;;
        *) token=$TOKEN ;;
        esac
        if [ "$workload" = many-docs ]; then
            # a spread of the stream: frequent and rare documents
            body=$(sed -n "$((i * 3989 % $(wc -l <"$(docs_file_of "$server")") + 1))p" "$(docs_file_of "$server")")
        fi
        if [ "$workload" = orders ] && [ "$server" != bare-axum ]; then
            check_one "$server" orders "$token" "$ORDERS_BODY" || wrong=$((wrong + 1))
        else
            check_one "$server" "$workload" "$token" "$body" || wrong=$((wrong + 1))
        fi
        if [ "$workload" = unknown-kid ] && [ "$i" = 5 ]; then
            # collateral: a valid token must still be served right after the flood
            check_one "$server" me "$TOKEN" "$ME_BODY" || wrong=$((wrong + 1))
        fi
        if [ "$workload" = mixed ]; then
            token=$(sed -n "$((i * 7 % $(wc -l <"$MIXED_TOKENS") + 1))p" "$MIXED_TOKENS")
            check_one "$server" me "$token" "$ME_BODY" || wrong=$((wrong + 1))
        fi
    done
    echo "$wrong"
}

servers_for() {
    local peers=""
    if [ "$PEERS" = 1 ]; then
        case "$1" in
        me) peers="node-stack yoga bare-axum" ;;
        orders | reject | unknown-kid | mixed | many-docs) peers="node-stack yoga" ;;
        esac
    fi
    [ "$1" = login ] && peers="emulator"
    echo "${AUTHGATES[*]} $peers"
}

# mixed: 90% the one valid token, 10% distinct valid tokens; me and orders alternate.
mixed_tokens_file() {
    local f="$WORK/mixed-stream.txt" i n
    n=$(wc -l <"$MIXED_TOKENS")
    : >"$f"
    for i in $(seq 1 1000); do
        if [ $((i % 10)) = 0 ]; then
            sed -n "$((i / 10 % n + 1))p" "$MIXED_TOKENS" >>"$f"
        else
            echo "$TOKEN" >>"$f"
        fi
    done
    echo "$f"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# drive WORKLOAD SERVER SECONDS: one wrk run; prints wrk.lua's RESULT line.
drive() {
    local workload=$1 server=$2 seconds=$3 conns=$CONNECTIONS threads=$THREADS
    local body token="" file="" bodies="" path="/graphql" url body2=""
    body=$(body_of "$server" "$workload")
    [ "$workload" = many-docs ] && bodies=$(docs_file_of "$server")
    case "$workload" in
    reject) file="$WORK/bad-signature.txt" ;;
    unknown-kid) file="$WORK/unknown-kid.txt" ;;
    mixed) file=$(mixed_tokens_file) ;;
    login)
        token=""
        conns=$LOGIN_CONNECTIONS
        threads=1
        ;;
    *) token=$TOKEN ;;
    esac
    [ "$server" = emulator ] && path="/oauth/token"
    url="$(url_of "$server")"
    url="${url%/graphql}"
    url="${url%/oauth/token}"
    [ "$workload" = mixed ] && body2=$ORDERS_BODY
    # many-docs: each run starts at a random place in the stream; from the
    # same place every time, runs shorter than the stream would replay the
    # documents the warm-up and the previous runs already sent
    WL_BODY="$body" WL_BODY2="$body2" WL_TOKEN="$token" WL_TOKENS_FILE="$file" WL_BODIES_FILE="$bodies" \
        WL_OFFSET=$((RANDOM * 32768 + RANDOM)) WL_PATH="$path" "${ON_LOAD[@]}" wrk -t "$threads" -c "$conns" -d "${seconds}s" --timeout 5s \
        -s "$HERE/wrk.lua" "$url" | grep '^RESULT'
}

run_one() {
    local rep=$1 workload=$2 server=$3 wrong_before wrong_after f_before f_after
    local pid=${PID_OF[$server]}
    f_before=$(jwks_fetches "$server")
    wrong_before=$(check_sample "$server" "$workload")
    local d_before d_after
    d_before=$(doc_cache "$server")
    local t0
    cpu_ns "$pid" >"$WORK/cpu-before"
    t0=$(cpu_ticks "$pid")
    local line perf_pid=""
    if [ -n "$PERF_DIR" ] && [[ "$server" == authgate* ]]; then
        # sampled by time (no hardware counters in a VM); no call graph:
        # release builds keep no frame pointers, and self time is the question
        perf record -q -F 999 -p "$pid" -o "$PERF_DIR/$server-$workload-$rep.data" \
            -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    line=$(drive "$workload" "$server" "$DURATION") || die "wrk failed against $server ($workload)"
    [ -z "$perf_pid" ] || wait "$perf_pid" || log "perf record failed for $server ($workload)"
    local t1
    t1=$(cpu_ticks "$pid")
    cpu_ns "$pid" >"$WORK/cpu-after"
    d_after=$(doc_cache "$server")
    f_after=$(jwks_fetches "$server")
    wrong_after=$(check_sample "$server" "$workload")
    # RESULT requests=N duration_us=N p50_us=N p99_us=N status_errors=N socket_errors=N
    local requests duration p50_us p99_us status_errors socket_errors
    read -r requests duration p50_us p99_us status_errors socket_errors \
        <<<"$(printf '%s\n' "${line#RESULT }" | sed -E 's/[a-z0-9_]+=//g')"
    local errors
    if [ "$workload" = reject ] || [ "$workload" = unknown-kid ]; then
        # the right answer is a refusal: count the requests that were NOT refused
        errors=$((requests - status_errors + socket_errors))
    else
        errors=$((status_errors + socket_errors))
    fi
    local rps cpu_us tick_us fetches="" hit_rate=""
    rps=$(awk -v r="$requests" -v d="$duration" 'BEGIN {printf "%.0f", r / (d / 1e6)}')
    # user + system clock ticks of /proc/PID/stat (10 ms each: coarse)
    tick_us=$(awk -v a="$t0" -v b="$t1" -v r="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {if (r > 0) printf "%.1f", (b - a) / hz * 1e6 / r; else print "-"}')
    cpu_us=$tick_us
    if [ -s "$WORK/cpu-before" ] && [ -s "$WORK/cpu-after" ]; then
        # preferred: the server's threads' time on CPU (schedstat, ns)
        cpu_us=$(awk -v ns="$(cpu_ns_delta "$WORK/cpu-before" "$WORK/cpu-after")" -v r="$requests" \
            'BEGIN {if (r > 0) printf "%.1f", ns / 1000 / r; else print "-"}')
    fi
    if [ -n "$d_before" ] && [ -n "$d_after" ]; then
        # the document cache's hit rate over the run: parse / validate step
        hit_rate=$(printf '%s %s\n' "$d_before" "$d_after" | awk '{
            ph = $5 - $1; pm = $6 - $2; vh = $7 - $3; vm = $8 - $4
            printf "%s/%s", (ph + pm > 0 ? sprintf("%.1f", 100 * ph / (ph + pm)) : "-"),
                (vh + vm > 0 ? sprintf("%.1f", 100 * vh / (vh + vm)) : "-")}')
    fi
    if [ -n "$f_before" ] && [ -n "$f_after" ]; then
        fetches=$(awk -v a="$f_before" -v b="$f_after" 'BEGIN {printf "%d", b - a}')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rep" "$server" "$workload" "$rps" \
        "$p50_us" "$p99_us" "$errors" "$((wrong_before + wrong_after))" "$(rss_kb "$pid")" "$cpu_us" "$fetches" \
        "$hit_rate" >>"$RESULTS"
    log "rep $rep $workload $server: $rps req/s, $cpu_us CPU µs/req ($tick_us by clock ticks), p50 ${p50_us} µs, errors $errors, wrong $((wrong_before + wrong_after))${hit_rate:+, document cache hits $hit_rate % (parse/validate)}"
}

LOAD_START=$SECONDS
log "load: ${DURATION}s per run, $CONNECTIONS connections, $THREADS wrk threads (login: $LOGIN_CONNECTIONS connection); load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up, not measured: the Node peers' JIT and every cache (tokens,
# documents, connections to the stub) settle before the first repetition,
# which otherwise is the slow outlier of every spread. Not unknown-kid (its
# flood spends the peers' JWKS fetch budget).
if [ "$WARMUP" -gt 0 ]; then
    for workload in $WORKLOADS; do
        [ "$workload" = unknown-kid ] && continue
        for server in $(servers_for "$workload"); do
            drive "$workload" "$server" "$WARMUP" >/dev/null || die "wrk failed against $server ($workload, warm-up)"
        done
    done
    log "warmed up: ${WARMUP}s per workload and server, not measured"
fi
# unknown-kid runs once, after every repetition: a flood can leave a peer
# unable to fetch keys for a while (jwks-rsa's rate limit), which would
# spoil whatever ran after it.
# Interleaved: each repetition runs every server on a workload before the next
# workload and the next repetition, and starts one server further along the
# list each time, so no server always runs first (or right after another).
for rep in $(seq 1 "$REPEAT"); do
    for workload in $WORKLOADS; do
        [ "$workload" = unknown-kid ] && continue
        read -r -a servers <<<"$(servers_for "$workload")"
        for i in "${!servers[@]}"; do
            run_one "$rep" "$workload" "${servers[$(((i + rep - 1) % ${#servers[@]}))]}"
        done
    done
done
if [[ " $WORKLOADS " == *" unknown-kid "* ]]; then
    for server in $(servers_for unknown-kid); do
        run_one 1 unknown-kid "$server"
    done
fi

if [ "$REDIS" = 1 ] && command -v redis-cli >/dev/null; then
    # evidence that authgate-redis did use the server
    log "redis: $(redis-cli -p "$REDIS_PORT" --scan --pattern 'bench:*' | wc -l) keys under bench:, $(redis-cli -p "$REDIS_PORT" info stats | awk -F: '/^total_commands_processed/ {print $2+0}') commands processed"
fi

# ---------------------------------------------------------------- table
# ratio column: authgate's req/s over this row's (same repetition and workload);
# for login, on each authgate row: its p50 minus the emulator's (the gateway's
# own overhead over the IdP double).
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); nproc $(nproc); $PINNING; ${DURATION}s x $CONNECTIONS connections, $THREADS wrk threads; $PROFILE_DIR binaries; IdP password hashing: $IDP_HASHING; measuring took $((SECONDS - LOAD_START)) s, $SECONDS s in all"
awk -F'\t' '
    { rows[NR] = $0; if ($2 == "authgate") { ag_rps[$1 FS $3] = $4 }; if ($2 == "emulator") { idp_p50[$1 FS $3] = $5 } }
    END {
        printf "| rep | server | workload | req/s | p50 ms | p99 ms | errors | wrong | peak RSS MB | CPU µs/req | JWKS fetches | doc cache hit %% | authgate vs this |\n"
        printf "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        for (i = 1; i <= NR; i++) {
            split(rows[i], f, FS)
            key = f[1] FS f[3]
            ratio = "-"
            if (f[3] == "login") {
                if (f[2] ~ /^authgate/ && (key in idp_p50))
                    ratio = sprintf("%+.2f ms p50 over IdP", (f[5] - idp_p50[key]) / 1000)
            } else if (f[2] != "authgate" && f[4] > 0 && (key in ag_rps)) {
                ratio = sprintf("%.2fx", ag_rps[key] / f[4])
            }
            printf "| %s | %s | %s | %s | %.2f | %.2f | %s | %s | %.1f | %s | %s | %s | %s |\n",
                f[1], f[2], f[3], f[4], f[5] / 1000, f[6] / 1000, f[7], f[8], f[9] / 1024, f[10],
                (f[11] == "" ? "-" : f[11]), (f[12] == "" ? "-" : f[12]), ratio
        }
    }' "$RESULTS"

# ---------------------------------------------------------------- summary
# Per workload and server, over the repetitions: the medians, their spread
# ((max - min) / median), and authgate's medians over this server's. A spread
# over 10 % is flagged: the ratios of such a row are not to be trusted.
echo
echo "Summary over $REPEAT repetition(s) (median; spread = (max - min) / median; ratios: authgate's median ÷ this server's):"
echo
awk -F'\t' '
    function sort(a, n,    i, j, t) {
        for (i = 2; i <= n; i++) {
            t = a[i]
            for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
            a[j + 1] = t
        }
    }
    # median and spread of the space-separated numbers in s: sets MED, SPREAD
    function stats(s,    a, n, i) {
        n = split(s, a, " ")
        for (i = 1; i <= n; i++) a[i] += 0
        sort(a, n)
        MED = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        SPREAD = (n > 1 && MED > 0) ? 100 * (a[n] - a[1]) / MED : -1
        return n
    }
    function pct(x) { return x < 0 ? "-" : sprintf("%.1f %%", x) }
    {
        key = $3 FS $2
        if (!(key in reps)) { order[++keys] = key }
        reps[key]++
        rps[key] = rps[key] " " $4
        if ($10 != "-") cpu[key] = cpu[key] " " $10
    }
    END {
        for (k = 1; k <= keys; k++) {
            key = order[k]
            stats(rps[key]); mr[key] = MED; sr[key] = SPREAD
            if (cpu[key] != "") { stats(cpu[key]); mc[key] = MED; sc[key] = SPREAD } else { mc[key] = -1; sc[key] = -1 }
        }
        printf "| workload | server | reps | req/s | spread | CPU µs/req | spread | req/s: authgate ÷ this | CPU µs/req: authgate ÷ this | flag |\n"
        printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
        flagged = 0
        for (k = 1; k <= keys; k++) {
            key = order[k]
            split(key, f, FS)
            ag = f[1] FS "authgate"
            thru = "-"; cost = "-"
            if (f[2] != "authgate" && (ag in mr)) {
                if (mr[key] > 0) thru = sprintf("%.2fx", mr[ag] / mr[key])
                if (mc[key] > 0 && mc[ag] >= 0) cost = sprintf("%.2fx", mc[ag] / mc[key])
            }
            flag = ""
            if (sr[key] > 10 || sc[key] > 10) { flag = "! spread > 10 %"; flagged++ }
            printf "| %s | %s | %d | %.0f | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], reps[key], mr[key],
                pct(sr[key]), (mc[key] < 0 ? "-" : sprintf("%.1f", mc[key])), pct(sc[key]), thru, cost, flag
        }
        print ""
        if (flagged > 0)
            printf "WARNING: %d row(s) with a spread over 10 %% between repetitions (marked !): their ratios are not stable; rerun on a quieter machine or with --repeat 5\n", flagged
        else if (REPEAT > 1)
            print "every spread within 10 %"
        else
            print "one repetition: no spread (use --repeat 3 for stable ratios)"
    }' REPEAT="$REPEAT" "$RESULTS"

PEER_WRONG=$(awk -F'\t' '$2 !~ /^authgate/ {s += $8} END {print s + 0}' "$RESULTS")
[ "$PEER_WRONG" -gt 0 ] && echo "note: the peers gave $PEER_WRONG wrong sampled answers (see the wrong column)"
if [ "$SMOKE" = 1 ]; then
    # one plain closing line for CI: an authgate run passes with no wrong
    # answer and no error
    awk -F'\t' '$2 ~ /^authgate/ { if ($7 + $8 == 0) p++; else f++ }
        END { printf "smoke: %d passed, %d failed\n", p, f }' "$RESULTS"
fi
WRONG=$(awk -F'\t' '$2 ~ /^authgate/ {s += $8} END {print s + 0}' "$RESULTS")
if [ "$WRONG" -gt 0 ]; then
    echo "FAIL: authgate gave $WRONG wrong answers in the sampled responses" >&2
    exit 1
fi
if [ "$SMOKE" = 1 ]; then
    # a smoke run also fails on authgate's errors (non-2xx, socket errors;
    # for reject/unknown-kid: answers that were not refusals)
    ERRORS=$(awk -F'\t' '$2 ~ /^authgate/ {s += $7} END {print s + 0}' "$RESULTS")
    if [ "$ERRORS" -gt 0 ]; then
        echo "FAIL: authgate had $ERRORS errors in the smoke run (see the errors column)" >&2
        exit 1
    fi
fi
