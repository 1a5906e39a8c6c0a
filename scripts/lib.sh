# Shared by scripts/test and scripts/demo: install what is missing, build.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TERN_BUILD=${TERN_BUILD:-$top/build}

# Debian packages tern builds and tests with. Only the missing ones are
# installed, quietly; `apt-get update` runs once, and only if needed.
TERN_PACKAGES="meson ninja-build pkg-config gcc libc6-dev liburing-dev libnuma-dev libseccomp-dev zlib1g-dev
 qemu-system-x86 qemu-utils busybox-static kmod cpio xz-utils gzip
 fio iperf3 ethtool iproute2 gnuplot-nox python3 clang libclang-rt-14-dev
 procps e2fsprogs util-linux git
 seabios syslinux syslinux-common isolinux mtools dosfstools xorriso
 dpdk-dev librte-net-vhost23 librte-net-tap23 librte-mempool-ring23
 librte-net-virtio23 libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev curl
 openvswitch-switch-dpdk"

install_missing() {
	local missing=() p
	for p in $TERN_PACKAGES "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	echo "installing: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	# No package here is a service tern needs running (openvswitch-switch
	# would start OVS daemons; the bench runs its own): while installing,
	# invoke-rc.d is told not to start anything.
	local policy=''
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
	fi
	if ! apt-get install -y -q=2 --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		apt-get update -q=2 >/dev/null
		apt-get install -y -q=2 --no-install-recommends "${missing[@]}" >/dev/null
	fi
	local st=$?
	[[ -n $policy ]] && rm -f "$policy"
	return $st
}

# build DIR [meson options...]: configure once, then build.
build() {
	local dir=$1 log
	shift
	log=$(mktemp)
	if [[ ! -f $dir/build.ninja ]]; then
		meson setup "$dir" "$top" "$@" >"$log" 2>&1 || {
			cat "$log" >&2
			rm -f "$log"
			return 1
		}
	fi
	ninja -C "$dir" >"$log" 2>&1 || {
		cat "$log" >&2
		rm -f "$log"
		return 1
	}
	rm -f "$log"
}
