# shellcheck shell=bash disable=SC2034
# Sourced by the tests/host scripts: paths and on-demand package installs.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
host=$top/tests/host
build=$(realpath -m "${TERN_BUILD:-$top/build}")

die() { echo "${0##*/}: $*" >&2; exit 2; }

# need_pkg PKG...: apt-get install the missing ones (CI machines are fresh Debian 12, root).
need_pkg() {
	local p missing=()
	for p; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
	((${#missing[@]})) || return 0
	{ apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		{ apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }; } >&2
}
