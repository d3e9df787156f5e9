#!/usr/bin/env bash
# Builds the jambox Raspberry Pi image (Pi 4 and 3 in 64-bit mode; Debian bookworm arm64) from
# the Debian archive alone, the way Debian's own Raspberry Pi images are made: mmdebstrap with
# linux-image-arm64 and raspi-firmware (non-free-firmware), systemd, jackd2 and our arm64
# jamboxd package, then a FAT boot partition (RASPIFIRM) and an ext4 root (RASPIROOT) assembled
# into one image without loop devices or mounts (mkfs.ext4 -d, mtools).
#
# Usage: packaging/build-image.sh [--debs DIR] [--out DIR] [--mirror URL] [--no-xz]
#   --debs    the arm64 jamboxd package (default build/debs/arm64, from packaging/build-debs.sh arm64)
#   --out     output folder (default build/image): jambox-arm64.img, .img.xz, and for booting
#             the same image under qemu-system-aarch64 -M virt: vmlinuz, initrd.img
#   --mirror  the Debian archive (default http://deb.debian.org/debian)
# Needs (as root): mmdebstrap, qemu-user-static with binfmt_misc (arm64 maintainer scripts),
# dosfstools, mtools, fdisk, e2fsprogs, xz-utils: packaging/install-deps.sh image.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debs=$repo/build/debs/arm64
out=$repo/build/image
mirror=http://deb.debian.org/debian
compress=yes
while (($#)); do
  case $1 in
    --debs) debs=$(realpath "$2"); shift 2 ;;
    --out) out=$(realpath -m "$2"); shift 2 ;;
    --mirror) mirror=$2; shift 2 ;;
    --no-xz) compress=no; shift ;;
    *) echo "usage: $0 [--debs DIR] [--out DIR] [--mirror URL] [--no-xz]" >&2; exit 64 ;;
  esac
done
die() { echo "build-image: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (the root filesystem keeps its owners)"
for tool in mmdebstrap mkfs.vfat mcopy sfdisk mkfs.ext4 xz; do
  command -v "$tool" >/dev/null || die "$tool missing: packaging/install-deps.sh image"
done
shopt -s nullglob
deb=("$debs"/jamboxd_*_arm64.deb)
shopt -u nullglob
((${#deb[@]} == 1)) || die "need exactly one jamboxd_*_arm64.deb in $debs (packaging/build-debs.sh arm64)"
if ! [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
  # Maintainer scripts of arm64 packages run under qemu-aarch64-static.
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-aarch64 || die "cannot run arm64 programs: qemu-user-static, binfmt-support"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/jambox-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$out"
start=$(date +%s)

# Packages: the init system, the network, the sound path, what provisioning and repairs need.
# jamboxd's own dependencies come with its package.
packages=(
  systemd-sysv udev kmod dbus initramfs-tools
  systemd-timesyncd systemd-resolved netbase iproute2
  dosfstools e2fsprogs fdisk
  openssh-server less nano
)
# jamboxd's package names what a box needs beyond its dependencies (the sound card's tools) as
# Recommends: the image installs them, and nothing else any package merely recommends.
recommends=$(dpkg-deb -f "${deb[0]}" Recommends | tr -d ',')
# The kernel and the Pi's boot firmware last, with our package: the initrd is made once (by the
# kernel's own hook), not again for every package with an initramfs hook installed after it
# (under qemu-user each run takes minutes). raspi-firmware's kernel hook copies kernel, initrd
# and device trees to /boot/firmware and writes cmdline.txt with root=LABEL=RASPIROOT: the label
# survives any disk name (SD card, USB disk, qemu's virtio disk). That apt runs inside the root,
# whose resolv.conf points at systemd-resolved: the build machine's is lent for the download.
mmdebstrap --architectures=arm64 --variant=minbase --mode=root --format=directory \
  --components=main,non-free-firmware \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --essential-hook='mkdir -p "$1/boot/firmware"' \
  --customize-hook="copy-in ${deb[0]} /var/cache/apt/archives" \
  --customize-hook="sync-in $repo/packaging/image/rootfs /" \
  --customize-hook='mv "$1/etc/resolv.conf" "$1/etc/resolv.conf.image" && cp -L /etc/resolv.conf "$1/etc/resolv.conf"' \
  --customize-hook="chroot \"\$1\" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linux-image-arm64 raspi-firmware /var/cache/apt/archives/${deb[0]##*/} $recommends" \
  --customize-hook='mv "$1/etc/resolv.conf.image" "$1/etc/resolv.conf"' \
  --customize-hook='chroot "$1" /usr/lib/jambox/image/finish' \
  bookworm "$root" "deb $mirror bookworm main non-free-firmware" \
  "deb $mirror bookworm-updates main non-free-firmware" \
  "deb ${mirror%/debian}/debian-security bookworm-security main non-free-firmware"

# Partitions: 4 MiB of room for the partition table, a 256 MiB FAT boot partition (the Pi's
# firmware reads config.txt, the kernel and the initrd from it), then the root filesystem with
# room to spare; the first boot grows it to the card.
fat_mib=256
root_used_mib=$(($(du -sm --exclude=./boot/firmware "$root" | cut -f1)))
root_mib=$((root_used_mib + root_used_mib / 4 + 256))
img=$out/jambox-arm64.img
rm -f "$img" "$img.xz"

mkfs.vfat -n RASPIFIRM -F 32 -C "$work/fat.img" $((fat_mib * 1024)) >/dev/null
mcopy -s -i "$work/fat.img" "$root"/boot/firmware/* ::
mv "$root/boot/firmware" "$work/firmware-files"
mkdir -m 0755 "$root/boot/firmware"
mkfs.ext4 -q -L RASPIROOT -d "$root" -E root_owner=0:0 "$work/root.img" "${root_mib}M"

truncate -s $(((4 + fat_mib + root_mib) * 1024 * 1024)) "$img"
sfdisk --quiet "$img" <<TABLE
label: dos
start=4MiB, size=${fat_mib}MiB, type=c, bootable
start=$((4 + fat_mib))MiB, type=83
TABLE
dd if="$work/fat.img" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((4 + fat_mib)) conv=notrunc,sparse status=none

# The kernel and initrd of the image, for booting it under qemu-system-aarch64 -M virt (which has
# no Raspberry Pi boot firmware): tests/appliance/qemu-boot.sh.
cp "$work"/firmware-files/vmlinuz-* "$out/vmlinuz"
cp "$work"/firmware-files/initrd.img-* "$out/initrd.img"
if [[ $compress == yes ]]; then
  xz -T0 -3 -k "$img"
fi
summary="$img: $(du -h --apparent-size "$img" | cut -f1) ($(du -h "$img" | cut -f1) used)"
[[ -e $img.xz ]] && summary+=", $img.xz: $(du -h "$img.xz" | cut -f1)"
echo "build-image: $summary, in $(($(date +%s) - start)) s"
