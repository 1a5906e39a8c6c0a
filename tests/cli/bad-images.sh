#!/bin/sh
# usage: bad-images.sh TERN
# Bad kernels and initramfs files: tern must exit 1 with one clear line naming
# the file and the problem, and never crash. Runs without KVM: images are
# checked before /dev/kvm is opened.
tern=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail=0

# expect NAME STATUS PATTERN -- TERN-ARGS...
expect() {
	name=$1 want=$2 pattern=$3
	shift 4
	"$tern" --serial off "$@" >"$dir/out" 2>&1
	got=$?
	if [ "$got" -ne "$want" ] || ! grep -q -- "$pattern" "$dir/out"; then
		echo "FAIL $name: exit $got (want $want), output:"
		sed 's/^/  /' "$dir/out"
		fail=1
	else
		echo "ok   $name: $(head -n 1 "$dir/out")"
	fi
}

head -c 100 /dev/urandom >"$dir/short"
head -c 65536 /dev/zero >"$dir/zeros"
printf 'hello' >"$dir/initrd"
# A header that claims more kernel than the file has.
python3 - "$dir/truncated" <<'PY'
import struct, sys
img = bytearray(8192)
img[0x1f1] = 1                                  # setup_sects
struct.pack_into('<H', img, 0x1fe, 0xaa55)
img[0x202:0x206] = b'HdrS'
struct.pack_into('<H', img, 0x206, 0x020f)
img[0x211] = 1                                  # LOADED_HIGH
img[0x236] = 1                                  # XLF_KERNEL_64
struct.pack_into('<I', img, 0x1f4, 0x100000)    # syssize: 16 MiB
open(sys.argv[1], 'wb').write(img)
PY

expect short-kernel 1 "too short for a bzImage" -- --kernel "$dir/short"
expect not-a-kernel 1 "no boot flag" -- --kernel "$dir/zeros"
expect truncated-kernel 1 "truncated: header says" -- --kernel "$dir/truncated"
expect missing-kernel 2 "No such file" -- --kernel "$dir/none"
expect directory-kernel 1 "not a regular" -- --kernel "$dir"
# ELF files that are no vmlinux: a shared object (ET_DYN), and an executable
# cut off inside its program headers.
cp /bin/true "$dir/elf-dyn"
head -c 100 "$dir/elf-dyn" >"$dir/elf-cut"
printf '\002' | dd of="$dir/elf-cut" bs=1 seek=16 conv=notrunc 2>/dev/null # e_type: ET_EXEC
expect elf-not-exec 1 "is not an executable" -- --kernel "$dir/elf-dyn"
expect elf-truncated 1 "program headers" -- --kernel "$dir/elf-cut"
expect missing-initramfs 2 "initramfs" -- --kernel "$dir/zeros" --initramfs "$dir/none"
exit $fail
