#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Turn a `make install PREFIX=/usr DESTDIR=DIR/debian/sluice` tree into the
# Debian package OUT (called by `make deb`).  Adds what a package has and
# `make install` does not: the example /etc/sluice/cluster.conf (a
# conffile), the copyright file, compressed man pages, stripped binaries,
# md5sums, the maintainer scripts and a control file whose Depends come
# from the libraries the binaries and modules link (dpkg-shlibdeps), plus
# fuse3 for fusermount3 and mount.fuse3.
#
# usage: deploy/debian/build-deb.sh DIR VERSION OUT
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 DIR VERSION OUT" >&2
	exit 2
fi
dir=$1 version=$2 out=$3
src=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$src/../.." && pwd)
stage=$dir/debian/sluice

for tool in dpkg-deb dpkg-shlibdeps; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-deb: $tool missing (dpkg-dev; scripts/install-deps.sh)" >&2
		exit 1
	fi
done
[ -x "$stage/usr/bin/sluice-cachenode" ] || {
	echo "build-deb: $stage holds no installed tree" >&2
	exit 1
}

install -D -m 644 "$top/deploy/cluster.conf" "$stage/etc/sluice/cluster.conf"
install -D -m 644 "$src/copyright" "$stage/usr/share/doc/sluice/copyright"
gzip -9nf "$stage"/usr/share/man/man*/*.[0-9]
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
	"$stage"/usr/bin/* "$stage"/usr/lib/sluice/*.so

# dpkg-shlibdeps reads debian/control beside the staged tree for the names
# of the packages being built, and finds a package's root by its DEBIAN/.
mkdir -p "$stage/DEBIAN"
printf 'Source: sluice\n\nPackage: sluice\nArchitecture: any\n' \
	>"$dir/debian/control"
objs=()
for f in "$stage"/usr/bin/* "$stage"/usr/lib/sluice/*.so; do
	objs+=("-e${f#"$dir/"}")
done
depends=$(cd "$dir" && dpkg-shlibdeps -O --warnings=7 "${objs[@]}" |
	sed -n 's/^shlibs:Depends=//p')
if [ -z "$depends" ]; then
	echo "build-deb: dpkg-shlibdeps found no dependencies" >&2
	exit 1
fi

(cd "$stage" && find etc -type f | sed 's|^|/|' | sort) >"$stage/DEBIAN/conffiles"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) \
	>"$stage/DEBIAN/md5sums"
install -m 755 "$src/postinst" "$src/prerm" "$src/postrm" "$stage/DEBIAN/"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" \
	-e "s|@ARCH@|$(dpkg --print-architecture)|" \
	-e "s|@SIZE@|$size|" \
	-e "s|@DEPENDS@|$depends, fuse3|" \
	-e "s|@MAINTAINER@|${DEB_MAINTAINER:-Sluice developers <sluice@localhost>}|" \
	"$src/control.in" >"$stage/DEBIAN/control"

dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "  DEB    $out ($(wc -c <"$out") bytes; Depends: $depends, fuse3)"
