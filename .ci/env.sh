# Sourced by the project's scripts: installs what the build needs when missing and points
# cargo at caches under $HOME/.cache, so that only the first run on a machine is slow.
#  - apt packages: libclang-dev (bindgen in librocksdb-sys), protobuf-compiler (protoc)
#  - RocksDB's C++ library, built once per librocksdb-sys version (~16 min) and reused
#  - cargo's target directory, outside the clone
set -euo pipefail

LOYALTY_CACHE="${LOYALTY_CACHE:-$HOME/.cache/loyalty}"
mkdir -p "$LOYALTY_CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$LOYALTY_CACHE/target}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_apt=()
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need_apt+=(libclang-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rocksdb_version="$(awk '/^name = "librocksdb-sys"/{getline; gsub(/"/,"",$3); print $3}' "$root_dir/Cargo.lock")"
rocksdb_dir="$LOYALTY_CACHE/rocksdb/$rocksdb_version"
if [ ! -f "$rocksdb_dir/librocksdb.a" ]; then
  echo "==> building RocksDB $rocksdb_version once (about 16 minutes on 2 cores)"
  (cd "$root_dir" && CARGO_TARGET_DIR="$LOYALTY_CACHE/rocksdb-build" cargo build --release --locked -p librocksdb-sys)
  built="$(ls -t "$LOYALTY_CACHE"/rocksdb-build/release/build/librocksdb-sys-*/out/librocksdb.a | head -1)"
  mkdir -p "$rocksdb_dir"
  cp "$built" "$rocksdb_dir/librocksdb.a.tmp"
  mv "$rocksdb_dir/librocksdb.a.tmp" "$rocksdb_dir/librocksdb.a"
fi
export ROCKSDB_LIB_DIR="$rocksdb_dir"
export ROCKSDB_STATIC=1
