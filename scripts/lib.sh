# Shared by scripts/quickstart and scripts/test: install npm dependencies when
# the lock file changed, and compile the TypeScript.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

require_node() {
  if ! command -v node >/dev/null; then
    echo "error: Node.js 20 or newer is needed (node is not on PATH)" >&2; exit 1
  fi
  local major; major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "error: Node.js 20 or newer is needed (found $(node --version))" >&2; exit 1
  fi
}

install_and_build() {
  require_node
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "==> npm ci"
    # better-sqlite3 compiles from source (about a minute): no prebuilt binary is fetched.
    # prebuild-install reads this from its own rc prefix; npm itself never sees it,
    # so npm does not warn about an unknown config as it does for npm_config_*.
    env 'prebuild-install_buildFromSource=true' npm ci --no-audit --no-fund
  fi
  echo "==> tsc"
  # A clean output: a file moved or removed in the source leaves no stale test behind.
  rm -rf dist
  npm run --silent build
}

# The report test opens the HTML report in Debian's Chromium (driven by
# playwright-core; no browser download). Installed from Debian's packages.
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  echo "==> apt-get install chromium (Debian's package, for the report test)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  if ! $sudo apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; then
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends chromium >/dev/null
  fi
}

# A real worker node (`edgemark cluster up --workers 1`, its integration test) runs
# Debian's containerd, runc and CNI plugins. Installed from Debian's packages.
ensure_worker_packages() {
  if [ -x /usr/bin/containerd ] && [ -x /usr/sbin/runc ] && [ -x /usr/lib/cni/bridge ] && [ -x /usr/bin/skopeo ]; then return; fi
  echo "==> apt-get install containerd runc containernetworking-plugins skopeo (Debian's packages, for the worker node and image tests)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  local pkgs="containerd runc containernetworking-plugins skopeo"
  if ! $sudo apt-get install -y --no-install-recommends $pkgs >/dev/null 2>&1; then
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends $pkgs >/dev/null
  fi
}
