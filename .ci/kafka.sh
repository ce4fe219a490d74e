# Sourced by .ci/test: makes a Kafka-compatible broker available to the tests.
# Installs tansu 0.6.0 (with its dynostore feature: without a storage feature it drops
# every message) once into the cache (about 11 minutes), starts it on 127.0.0.1 with
# in-memory storage, and exports its address as LOYALTY_KAFKA_BROKERS. The tests that start
# brokers of their own find the binary through LOYALTY_TANSU_BIN.
tansu_root="$LOYALTY_CACHE/tansu"
export LOYALTY_TANSU_BIN="$tansu_root/bin/tansu"
if [ ! -x "$LOYALTY_TANSU_BIN" ]; then
  echo "==> installing the Kafka-compatible broker tansu 0.6.0 once (about 11 minutes)"
  CARGO_TARGET_DIR="$LOYALTY_CACHE/tansu-build" cargo install tansu --version 0.6.0 --locked --features dynostore --root "$tansu_root"
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${LOYALTY_KAFKA_BROKERS:-}" ]; then
  port=19092
  while ! port_free "$port"; do port=$((port + 1)); done
  "$LOYALTY_TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ \
    > "$LOYALTY_CACHE/tansu-$port.log" 2>&1 &
  tansu_pid=$!
  trap 'kill "$tansu_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if timeout 2 "$LOYALTY_TANSU_BIN" topic list --broker "tcp://127.0.0.1:$port" >/dev/null 2>&1; then
      break
    fi
    sleep 0.2
  done
  if ! timeout 2 "$LOYALTY_TANSU_BIN" topic list --broker "tcp://127.0.0.1:$port" >/dev/null 2>&1; then
    echo "the Kafka broker did not start; see $LOYALTY_CACHE/tansu-$port.log" >&2
    exit 1
  fi
  export LOYALTY_KAFKA_BROKERS="127.0.0.1:$port"
  echo "==> Kafka broker (tansu) on $LOYALTY_KAFKA_BROKERS"
fi
