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
    npm ci --no-audit --no-fund
  fi
  echo "==> tsc"
  npm run --silent build
}
