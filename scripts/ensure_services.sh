#!/usr/bin/env bash
# Make sure Redis, RabbitMQ and PostgreSQL answer at IKO_REDIS_URL / IKO_RABBITMQ_URL / IKO_AUDIT_ADMIN_URL.
# When one does not, and it is meant to run on this machine, start the installed Debian package's
# server; when it is not installed, say what is missing and how to install it. Idempotent: a no-op
# when all three already answer. Needs no PostgreSQL client: service_probe.py speaks the protocol.
#
# Environment: IKO_REDIS_URL, IKO_RABBITMQ_URL, IKO_AUDIT_ADMIN_URL (the services' own defaults),
# ENSURE_SERVICES_TIMEOUT (seconds to wait for each server after starting it, default 120), PYTHON
# (default python3), IKO_SBIN_DIRS (extra folders to look for the servers in, default
# /usr/sbin:/sbin:/usr/local/sbin).
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
REDIS_URL=${IKO_REDIS_URL:-redis://127.0.0.1:6379/0}
RABBITMQ_URL=${IKO_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/}
POSTGRES_URL=${IKO_AUDIT_ADMIN_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
TIMEOUT=${ENSURE_SERVICES_TIMEOUT:-120}
SBIN_DIRS=${IKO_SBIN_DIRS-/usr/sbin:/sbin:/usr/local/sbin}
PY=${PYTHON:-python3}

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: ERROR: %s\n' "$*" >&2; exit 1; }
probe() { "$PY" "$here/service_probe.py" "$@"; }
# The URL without its password, for messages.
shown() { printf '%s' "$1" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'; }

find_bin() {
    local name=$1 dir
    if command -v "$name" 2>/dev/null; then return 0; fi
    local -a dirs
    IFS=: read -r -a dirs <<<"$SBIN_DIRS"
    for dir in "${dirs[@]}"; do
        if [[ -n $dir && -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done
    return 1
}

# wait_for LABEL CMD...: run CMD until it succeeds or TIMEOUT seconds pass.
wait_for() {
    local label=$1 start=$SECONDS
    shift
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - start >= TIMEOUT)); then
            return 1
        fi
        sleep 1
    done
    say "$label answers after $((SECONDS - start)) s"
}

command -v "$PY" >/dev/null 2>&1 || die "$PY not found: install Python 3.11 (apt-get install python3)"

redis_ok=0
rabbit_ok=0
pg_ok=0
probe redis "$REDIS_URL" && redis_ok=1
probe amqp "$RABBITMQ_URL" && rabbit_ok=1
probe postgres "$POSTGRES_URL" && pg_ok=1
if ((redis_ok && rabbit_ok && pg_ok)); then
    say "Redis ($(shown "$REDIS_URL")), RabbitMQ ($(shown "$RABBITMQ_URL")) and PostgreSQL ($(shown "$POSTGRES_URL")) answer; nothing to do"
    exit 0
fi
((redis_ok)) && say "Redis answers at $(shown "$REDIS_URL")"
((rabbit_ok)) && say "RabbitMQ answers at $(shown "$RABBITMQ_URL")"
((pg_ok)) && say "PostgreSQL answers at $(shown "$POSTGRES_URL")"

# Work out everything that is missing before starting anything, so one message says it all.
missing=()
redis_server=""
rabbitmq_server=""
rabbitmqctl=""
pg_ctlcluster=""
pg_lsclusters=""
pg_cluster=()
if ((!redis_ok)); then
    probe local "$REDIS_URL" ||
        die "Redis at $(shown "$REDIS_URL") does not answer, and it is not on this machine: start it there or set IKO_REDIS_URL"
    redis_server=$(find_bin redis-server) || missing+=(redis-server)
fi
if ((!rabbit_ok)); then
    probe local "$RABBITMQ_URL" ||
        die "RabbitMQ at $(shown "$RABBITMQ_URL") does not answer, and it is not on this machine: start it there or set IKO_RABBITMQ_URL"
    if rabbitmq_server=$(find_bin rabbitmq-server) && rabbitmqctl=$(find_bin rabbitmqctl); then
        :
    else
        missing+=(rabbitmq-server)
    fi
fi
if ((!pg_ok)); then
    probe local "$POSTGRES_URL" ||
        die "PostgreSQL at $(shown "$POSTGRES_URL") does not answer, and it is not on this machine: start it there or set IKO_AUDIT_ADMIN_URL"
    # Debian's postgresql-common: one cluster per version and name, each on its own port.
    if pg_ctlcluster=$(find_bin pg_ctlcluster) && pg_lsclusters=$(find_bin pg_lsclusters); then
        pg_port=$(probe port "$POSTGRES_URL")
        # Columns: version, name, port, status, owner, data directory, log file.
        while read -r ver name port _ _ _ log; do
            if [[ $port == "$pg_port" ]]; then
                pg_cluster=("$ver" "$name" "$log")
                break
            fi
        done < <("$pg_lsclusters" --no-header 2>/dev/null || true)
        ((${#pg_cluster[@]})) ||
            die "no PostgreSQL cluster on port $pg_port here (pg_lsclusters lists none): create one with pg_createcluster, or set IKO_AUDIT_ADMIN_URL"
    else
        missing+=(postgresql)
    fi
fi
if ((${#missing[@]})); then
    die "not installed: ${missing[*]}. Install the servers with: apt-get install rabbitmq-server redis-server postgresql"
fi

if ((!redis_ok)); then
    port=$(probe port "$REDIS_URL")
    dir=/var/lib/redis
    logdir=/var/log/redis
    if ! { mkdir -p "$dir" "$logdir" && [[ -w $dir && -w $logdir ]]; } 2>/dev/null; then
        dir=${TMPDIR:-/tmp}/iko-redis
        logdir=$dir
        mkdir -p "$dir"
    fi
    say "starting Redis on port $port ($redis_server, log $logdir/ci.log)"
    "$redis_server" --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no \
        --dir "$dir" --logfile "$logdir/ci.log" ||
        die "redis-server would not start; see $logdir/ci.log"
    if ! wait_for "Redis" probe redis "$REDIS_URL"; then
        tail -n 20 "$logdir/ci.log" >&2 2>/dev/null || true
        die "Redis does not answer at $(shown "$REDIS_URL") ${TIMEOUT} s after starting it"
    fi
fi

if ((!rabbit_ok)); then
    say "starting RabbitMQ ($rabbitmq_server -detached); its first start can take a while"
    # Fails when the node already runs but is still booting: await_startup below covers that case.
    "$rabbitmq_server" -detached || say "rabbitmq-server -detached returned $?; waiting for the node anyway"
    # Right after -detached, rabbitmqctl cannot reach the node for a few seconds: retry until it answers.
    if ! wait_for "RabbitMQ node" "$rabbitmqctl" -q await_startup --timeout 30; then
        tail -n 20 /var/log/rabbitmq/*.log >&2 2>/dev/null || true
        die "RabbitMQ did not start within ${TIMEOUT} s (rabbitmqctl await_startup keeps failing)"
    fi
    if ! wait_for "RabbitMQ AMQP port" probe amqp "$RABBITMQ_URL"; then
        die "RabbitMQ runs but does not answer AMQP at $(shown "$RABBITMQ_URL")"
    fi
fi
if ((!pg_ok)); then
    ver=${pg_cluster[0]} name=${pg_cluster[1]} log=${pg_cluster[2]}
    say "starting PostgreSQL $ver/$name ($pg_ctlcluster, log $log)"
    # --skip-systemctl-redirect: start it here even where systemd is not the init (containers, CI).
    "$pg_ctlcluster" --skip-systemctl-redirect "$ver" "$name" start ||
        say "pg_ctlcluster start returned $?; waiting for the server anyway"
    if ! wait_for "PostgreSQL" probe postgres "$POSTGRES_URL"; then
        tail -n 20 "$log" >&2 2>/dev/null || true
        die "PostgreSQL does not answer at $(shown "$POSTGRES_URL") ${TIMEOUT} s after starting cluster $ver/$name"
    fi
fi
say "Redis, RabbitMQ and PostgreSQL answer"
