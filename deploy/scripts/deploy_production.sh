#!/usr/bin/env bash
# Deploy (or update) the ABParts AI Assistant with Docker Compose on this host.
#
#   deploy/scripts/deploy_production.sh [--skip-backup] [--skip-tests] [--force]
#
# Steps: prerequisites -> tests -> build the image -> start PostgreSQL and Redis -> validate the
# configuration (python -m server check-config, inside the new image) -> back up the database
# (pg_dump) -> apply migrations once -> rolling restart of the replicas, one at a time, each
# health-checked -> verify through nginx -> on any failure after the first replica was replaced,
# roll the replicas back to the previous image.
#
#   --skip-backup  do not pg_dump before migrating (not recommended)
#   --skip-tests   do not run the test suite before building
#   --force        deploy even with uncommitted changes or a failing configuration check
#
# Environment: ENV_FILE (default .env.production), COMPOSE_FILE (default docker-compose.prod.yml),
# HEALTH_TIMEOUT seconds per replica (default 180), BACKUP_KEEP dumps kept (default 14),
# PUBLIC_CHECK_URL (default https://localhost/ai/health/ready).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_FILE="${ENV_FILE:-.env.production}"
COMPOSE_FILE="${COMPOSE_FILE:-docker-compose.prod.yml}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-180}"
BACKUP_KEEP="${BACKUP_KEEP:-14}"
BACKUP_DIR="${BACKUP_DIR:-deploy/backups}"
PUBLIC_CHECK_URL="${PUBLIC_CHECK_URL:-https://localhost/ai/health/ready}"
STATE_FILE="deploy/.deployed_image"
REPLICAS=(app1 app2)

SKIP_BACKUP=0
SKIP_TESTS=0
FORCE=0
NEW_IMAGE=""
PREVIOUS_IMAGE=""
REPLACED=()

log() { printf '%s [deploy] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
die() { log "ERROR: $*"; exit 1; }

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

compose() {
    APP_IMAGE="${APP_IMAGE_OVERRIDE:-${NEW_IMAGE:-abparts-assistant:latest}}" \
        docker compose -f "$COMPOSE_FILE" --env-file "$ENV_FILE" "$@"
}

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --skip-backup) SKIP_BACKUP=1 ;;
            --skip-tests) SKIP_TESTS=1 ;;
            --force) FORCE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown option: $1" ;;
        esac
        shift
    done
}

check_prerequisites() {
    log "checking prerequisites"
    command -v docker >/dev/null 2>&1 || die "docker is not installed"
    docker compose version >/dev/null 2>&1 || die "docker compose v2 is required (the 'docker compose' plugin)"
    docker info >/dev/null 2>&1 || die "the Docker engine is not running or not reachable"
    command -v curl >/dev/null 2>&1 || die "curl is required for the health checks"
    [[ -f "$COMPOSE_FILE" ]] || die "$COMPOSE_FILE not found"
    [[ -f "$ENV_FILE" ]] || die "$ENV_FILE not found: copy .env.production.template and fill it in"
    if grep -q 'CHANGE_ME' "$ENV_FILE"; then
        die "$ENV_FILE still contains CHANGE_ME placeholders: $(grep -o '^[A-Z_]*=.*CHANGE_ME' "$ENV_FILE" | cut -d= -f1 | tr '\n' ' ')"
    fi
    local mode
    mode="$(stat -c '%a' "$ENV_FILE")"
    [[ "$mode" == "600" || "$mode" == "400" ]] || log "WARNING: $ENV_FILE is mode $mode; secrets should be chmod 600"
    [[ -f deploy/nginx/certs/fullchain.pem && -f deploy/nginx/certs/privkey.pem ]] \
        || die "TLS certificate missing: deploy/nginx/certs/fullchain.pem and privkey.pem"
    local free_kb
    free_kb="$(df -Pk . | awk 'NR==2 {print $4}')"
    (( free_kb > 5 * 1024 * 1024 )) || die "less than 5 GiB free on $(df -P . | awk 'NR==2 {print $6}')"
    if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
        if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
            (( FORCE )) || die "uncommitted changes in the work tree (commit them, or pass --force)"
            log "WARNING: deploying with uncommitted changes (--force)"
        fi
    fi
    mkdir -p "$BACKUP_DIR"
}

run_tests() {
    if (( SKIP_TESTS )); then
        log "tests skipped (--skip-tests)"
        return
    fi
    [[ -x .venv/bin/python ]] || die "no .venv to run the tests: run 'make install' first, or pass --skip-tests"
    log "running the test suite"
    .venv/bin/python -m pytest tests -q -x -p no:cacheprovider || die "tests failed: not deploying"
}

image_tag() {
    local rev="manual"
    if command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
        rev="$(git rev-parse --short=12 HEAD)"
    fi
    printf 'abparts-assistant:%s-%s' "$rev" "$(date -u +%Y%m%d%H%M%S)"
}

current_image() {
    local cid
    cid="$(compose ps -q app1 2>/dev/null || true)"
    if [[ -n "$cid" ]]; then
        docker inspect --format '{{.Config.Image}}' "$cid"
    elif [[ -f "$STATE_FILE" ]]; then
        cat "$STATE_FILE"
    fi
}

build_image() {
    NEW_IMAGE="$(image_tag)"
    PREVIOUS_IMAGE="$(current_image || true)"
    log "building $NEW_IMAGE (running now: ${PREVIOUS_IMAGE:-nothing})"
    compose build --pull migrate
}

start_datastores() {
    log "starting PostgreSQL and Redis"
    compose up -d --wait postgres redis
}

validate_config() {
    log "validating the configuration (check-config in the new image)"
    if ! compose run --rm --no-deps -T migrate python -m server check-config; then
        (( FORCE )) || die "configuration check failed (fix $ENV_FILE, or pass --force)"
        log "WARNING: configuration check failed, continuing (--force)"
    fi
}

backup_database() {
    if (( SKIP_BACKUP )); then
        log "database backup skipped (--skip-backup)"
        return
    fi
    local file
    file="$BACKUP_DIR/abparts-assistant-$(date -u +%Y%m%dT%H%M%SZ).dump"
    log "backing up the database to $file"
    # shellcheck disable=SC2016  # expanded by the container's shell
    compose exec -T postgres sh -c 'pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$file" \
        || die "pg_dump failed: not deploying"
    [[ -s "$file" ]] || die "backup $file is empty: not deploying"
    compose exec -T postgres pg_restore --list < "$file" > /dev/null || die "backup $file is not a readable dump"
    log "backup ok ($(du -h "$file" | cut -f1))"
    # keep the newest BACKUP_KEEP dumps
    find "$BACKUP_DIR" -maxdepth 1 -name 'abparts-assistant-*.dump' -type f -printf '%T@ %p\n' \
        | sort -rn | tail -n "+$((BACKUP_KEEP + 1))" | cut -d' ' -f2- | xargs -r rm -f --
}

run_migrations() {
    log "applying database migrations (once, before any replica restarts)"
    compose run --rm --no-deps -T migrate || die "migrations failed: replicas untouched (restore from $BACKUP_DIR if needed)"
}

wait_healthy() {
    local service="$1" deadline cid status
    deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    cid="$(compose ps -q "$service")"
    [[ -n "$cid" ]] || { log "$service has no container"; return 1; }
    while (( $(date +%s) < deadline )); do
        status="$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$cid")"
        case "$status" in
            healthy) return 0 ;;
            unhealthy|exited|dead) log "$service is $status"; return 1 ;;
        esac
        sleep 3
    done
    log "$service not healthy after ${HEALTH_TIMEOUT}s"
    return 1
}

reload_nginx() {
    # nginx resolves app1/app2 when it (re)loads its configuration: a recreated container may have a new address.
    if [[ -n "$(compose ps -q nginx 2>/dev/null)" ]]; then
        compose exec -T nginx nginx -s reload
    fi
}

rolling_restart() {
    local replica
    for replica in "${REPLICAS[@]}"; do
        log "replacing $replica (it drains: its clients resume on the other replica)"
        REPLACED+=("$replica")
        compose up -d --no-deps --force-recreate "$replica" || return 1
        wait_healthy "$replica" || return 1
        reload_nginx || return 1
        log "$replica healthy on $NEW_IMAGE"
    done
}

verify_public() {
    log "verifying through nginx: $PUBLIC_CHECK_URL"
    compose up -d --no-deps nginx prometheus grafana || return 1
    wait_healthy nginx || return 1
    local i
    for i in $(seq 1 20); do
        if curl -fsSk --max-time 5 "$PUBLIC_CHECK_URL" > /dev/null; then
            log "public health check passed"
            return 0
        fi
        sleep 3
    done
    log "public health check failed after $i attempts"
    return 1
}

rollback() {
    if [[ -z "$PREVIOUS_IMAGE" ]]; then
        log "ROLLBACK impossible: no previous image (first deployment). Inspect: docker compose logs app1 app2"
        return 1
    fi
    log "ROLLBACK: returning ${REPLACED[*]} to $PREVIOUS_IMAGE"
    local replica
    for replica in "${REPLACED[@]}"; do
        APP_IMAGE_OVERRIDE="$PREVIOUS_IMAGE" compose up -d --no-deps --force-recreate "$replica" || true
        APP_IMAGE_OVERRIDE="$PREVIOUS_IMAGE" wait_healthy "$replica" || log "ROLLBACK: $replica still unhealthy"
    done
    reload_nginx || true
    log "rolled back to $PREVIOUS_IMAGE. Migrations are not reverted (they are additive); the pre-deploy"
    log "backup is the newest file in $BACKUP_DIR (restore: docs/OPERATIONS_RUNBOOK.md#backup-and-recovery)"
}

main() {
    parse_args "$@"
    check_prerequisites
    run_tests
    build_image
    start_datastores
    validate_config
    backup_database
    run_migrations
    if ! rolling_restart || ! verify_public; then
        rollback || true
        die "deployment of $NEW_IMAGE failed and was rolled back"
    fi
    printf '%s\n' "$NEW_IMAGE" > "$STATE_FILE"
    log "deployed $NEW_IMAGE"
}

main "$@"
