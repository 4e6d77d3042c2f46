#!/usr/bin/env bash
# recipe-study.sh: the measurement behind the default training recipe
# (issue #19; results and method in docs/recipe-study.md). Trains every
# recipe on every data set with fixed seeds, measures the reconstruction
# MSE on held-out rows, and prints Markdown tables.
#
#   make data && go run scripts/gen-lowrank.go      # the data (once)
#   bash scripts/recipe-study.sh                     # the default-architecture grid
#   bash scripts/recipe-study.sh deep                # deep MNIST, 20 epochs
#   bash scripts/recipe-study.sh tables              # print the tables again
#
# Stages (any of, in order; default "grid tables"):
#   grid    the default architecture (--layers default) on mnist and
#           fashion for every recipe in $IMG_RECIPES, and on bc (breast
#           cancer, 10 epochs), bc200 (the same, 200 epochs) and lowrank for
#           every recipe in $SMALL_RECIPES (RECIPES, when set, for all)
#   deep    784-1000-500-250-30 on MNIST, 20 epochs, for $DEEP_RECIPES
#
# The LayerNorm and mixed-init section of docs/recipe-study.md:
#   SETS="bc bc200 bcq lowrank" RECIPES="E3 E3n E3m E3nm" bash scripts/recipe-study.sh grid
#   SETS="mnist fashion" IMG_RECIPES="E3n E3m E3nm" bash scripts/recipe-study.sh grid
#   DEEP_SEEDS="1 2" DEEP_RECIPES="E3 E3n E3m E3nm" bash scripts/recipe-study.sh deep
# (bcq: the breast-cancer set at bench --quality's 30-16-4, 200 epochs.)
#   tables  the Markdown tables of everything measured so far
#
# Each run's result is kept in $OUT/SET/RECIPE/sSEED/result (with the
# training log and the model); a run whose result exists is not run again
# (RECIPE_FORCE=1 reruns). Error is deterministic given the seed: the same
# binary gives the same numbers on the same machine.
#
# Environment: OUT (runs/recipe-study), AEGPU (bin/aegpu), RECIPES,
# IMG_RECIPES, SMALL_RECIPES, DEEP_RECIPES, SETS, SEEDS_IMG (1 2: mnist,
# fashion), SEEDS_SMALL (1 2 3: bc, bc200, lowrank), DEEP_SEEDS (1),
# DEVICE (cpu). The recipes are defined below.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUT=${OUT:-runs/recipe-study}
AEGPU=${AEGPU:-bin/aegpu}
DEVICE=${DEVICE:-cpu}
RECIPES=${RECIPES:-}
IMG_RECIPES=${IMG_RECIPES:-${RECIPES:-"old A B C D E E3 Eema Eema99 Ebce"}}
SMALL_RECIPES=${SMALL_RECIPES:-${RECIPES:-"old A B C C99 E E256 Enw E3 E1 E5 E3b64 E3ema99 Eema Eema99 Exav cos1 B3 B5 Bnw"}}
DEEP_RECIPES=${DEEP_RECIPES:-"old B D E3"}
SETS=${SETS:-"mnist fashion bc bc200 lowrank"}
SEEDS_IMG=${SEEDS_IMG:-"1 2"}
SEEDS_SMALL=${SEEDS_SMALL:-"1 2 3"}
DEEP_SEEDS=${DEEP_SEEDS:-"1"}

# --- recipes -----------------------------------------------------------------
# old: today's defaults, spelled out. Every other recipe is given in full too,
# so a change of the binary's defaults does not change what a recipe means.
declare -A RECIPE
RECIPE[old]="--init pytorch --schedule constant --lr 1e-3 --batch 256"
RECIPE[A]="--init kaiming --warmup 1 --schedule cosine --lr 2e-3 --min-lr 1e-5 --batch 256"
RECIPE[B]="${RECIPE[A]/--batch 256/--batch 128}"
RECIPE[C]="${RECIPE[B]} --ema 0.999"
RECIPE[C99]="${RECIPE[B]} --ema 0.99"
RECIPE[D]="${RECIPE[C]} --loss bce"
RECIPE[E]="${RECIPE[B]/--init kaiming/--init pytorch}"
# Extra recipes that isolate one knob at a time. E* keep PyTorch's init
# (E: warm-up + cosine, lr 2e-3, batch 128), the others vary B.
RECIPE[E256]="${RECIPE[E]/--batch 128/--batch 256}"
RECIPE[Enw]="${RECIPE[E]/--warmup 1/--warmup 0}"
RECIPE[E3]="${RECIPE[E]/--lr 2e-3/--lr 3e-3}"
RECIPE[E1]="${RECIPE[E]/--lr 2e-3/--lr 1e-3}"
RECIPE[Eema]="${RECIPE[E]} --ema 0.999"
RECIPE[Eema99]="${RECIPE[E]} --ema 0.99"
RECIPE[Ebce]="${RECIPE[E]} --loss bce"
RECIPE[Exav]="${RECIPE[E]/--init pytorch/--init xavier}"
RECIPE[E5]="${RECIPE[E]/--lr 2e-3/--lr 5e-3}"
RECIPE[E3b64]="${RECIPE[E3]/--batch 128/--batch 64}"
RECIPE[E3ema99]="${RECIPE[E3]} --ema 0.99"
RECIPE[E3bce]="${RECIPE[E3]} --loss bce"
RECIPE[Bnw]="${RECIPE[B]/--warmup 1/--warmup 0}"
RECIPE[cos1]="--init pytorch --schedule cosine --lr 1e-3 --min-lr 1e-5 --batch 256"
RECIPE[B3]="${RECIPE[B]/--lr 2e-3/--lr 3e-3}"
RECIPE[B5]="${RECIPE[B]/--lr 2e-3/--lr 5e-3}"
RECIPE[B64]="${RECIPE[B]/--batch 128/--batch 64}"
RECIPE[Bbce]="${RECIPE[B]} --loss bce"
RECIPE[C3]="${RECIPE[B3]} --ema 0.999"
RECIPE[D3]="${RECIPE[C3]} --loss bce"
# --norm layer (Linear → LayerNorm → activation in the hidden layers) on
# the default recipe (E3) and on the kaiming one (B).
RECIPE[E3n]="${RECIPE[E3]} --norm layer"
RECIPE[Bn]="${RECIPE[B]} --norm layer"
# --init mixed: kaiming on the ReLU-family layers, pytorch elsewhere, on
# the default recipe (E3).
RECIPE[E3m]="${RECIPE[E3]/--init pytorch/--init mixed}"
RECIPE[E3nm]="${RECIPE[E3m]} --norm layer"

# --- data sets -----------------------------------------------------------------
# SET -> train file, test file, fixed flags (scaling, architecture, epochs),
# whether the scaled data lies in [0,1] (BCE possible), values per row
# (×784 gives MNIST's per-image error).
declare -A TRAIN TEST FLAGS UNIT PERROW
TRAIN[mnist]=data/mnist/train-images-idx3-ubyte.gz
TEST[mnist]=data/mnist/t10k-images-idx3-ubyte.gz
FLAGS[mnist]="--epochs 10"
UNIT[mnist]=1
PERROW[mnist]=784
TRAIN[fashion]=data/fashion-mnist/train-images-idx3-ubyte.gz
TEST[fashion]=data/fashion-mnist/t10k-images-idx3-ubyte.gz
FLAGS[fashion]="--epochs 10"
UNIT[fashion]=1
PERROW[fashion]=784
TRAIN[bc]=data/breast-cancer/benign-train.csv
TEST[bc]=data/breast-cancer/benign-test.csv
FLAGS[bc]="--scale standard --epochs 10"
UNIT[bc]=0
PERROW[bc]=30
TRAIN[bc200]=${TRAIN[bc]}
TEST[bc200]=${TEST[bc]}
FLAGS[bc200]="--scale standard --epochs 200"
UNIT[bc200]=0
PERROW[bc200]=30
# bcq: the breast-cancer set at bench --quality's budget (bench/quality.go:
# 30-16-4, 200 epochs).
TRAIN[bcq]=${TRAIN[bc]}
TEST[bcq]=${TEST[bc]}
FLAGS[bcq]="--scale standard --layers 30,16,4 --epochs 200"
UNIT[bcq]=0
PERROW[bcq]=30
TRAIN[lowrank]=data/lowrank/lowrank-train.npy
TEST[lowrank]=data/lowrank/lowrank-test.npy
FLAGS[lowrank]="--epochs 10"
UNIT[lowrank]=0
PERROW[lowrank]=64
TRAIN[deep]=${TRAIN[mnist]}
TEST[deep]=${TEST[mnist]}
FLAGS[deep]="--layers 784,1000,500,250,30 --epochs 20"
UNIT[deep]=1
PERROW[deep]=784

seeds_of() {
	case $1 in
	mnist | fashion) echo "$SEEDS_IMG" ;;
	deep) echo "$DEEP_SEEDS" ;;
	*) echo "$SEEDS_SMALL" ;;
	esac
}

say() { printf 'recipe-study: %s\n' "$*" >&2; }

# run SET RECIPE SEED: train, then measure on the test rows; writes
# $OUT/SET/RECIPE/sSEED/result as "test_mse train_seconds final_val_loss".
run() {
	local set=$1 rc=$2 seed=$3
	local dir=$OUT/$set/$rc/s$seed
	if [[ -f $dir/result && -z ${RECIPE_FORCE:-} ]]; then
		return 0
	fi
	local flags=${RECIPE[$rc]:?unknown recipe $rc}
	if [[ $flags == *"--loss bce"* && ${UNIT[$set]} != 1 ]]; then
		return 0 # BCE needs data in [0,1]
	fi
	mkdir -p "$dir"
	say "$set $rc seed $seed: $flags ${FLAGS[$set]}"
	# shellcheck disable=SC2086
	"$AEGPU" train --data "${TRAIN[$set]}" ${FLAGS[$set]} $flags --seed "$seed" \
		--device "$DEVICE" --out "$dir/model" --force --json >"$dir/train.json" 2>"$dir/train.log"
	"$AEGPU" encode --model "$dir/model" --data "${TEST[$set]}" --out "$dir/z.npy" \
		--compare-pca --device "$DEVICE" 2>"$dir/encode.log"
	rm -f "$dir/z.npy"
	local mse secs val
	mse=$(sed -n 's/.*autoencoder \([0-9.e+-]*\), PCA.*/\1/p' "$dir/encode.log")
	secs=$(sed -n 's/.*"train_seconds": *\([0-9.e+-]*\).*/\1/p' "$dir/train.json")
	val=$(sed -n 's/.*"val_loss": *\([0-9.e+-]*\).*/\1/p' "$dir/train.json")
	[[ -n $mse ]] || {
		say "no MSE in $dir/encode.log"
		return 1
	}
	echo "$mse $secs $val" >"$dir/result"
	say "  test MSE $mse (${secs}s)"
}

# pca SET: PCA at the latent size, fitted on the training file, evaluated on
# the test file (scripts/pca-heldout.go), in the scaled space of any model
# trained on SET (the scaler does not depend on the recipe).
pca() {
	local set=$1 f=$OUT/$1/pca
	[[ -f $f && -z ${RECIPE_FORCE:-} ]] && return 0
	local model
	model=$(find "$OUT/$set" -name config.json -print -quit 2>/dev/null)
	[[ -n $model ]] || return 0
	[[ -x bin/pca-heldout ]] || go build -o bin/pca-heldout scripts/pca-heldout.go
	bin/pca-heldout -model "$(dirname "$model")" -train "${TRAIN[$set]}" -test "${TEST[$set]}" |
		awk '{print $3}' >"$f"
}

grid() {
	local set rc seed
	for set in $SETS; do
		local recipes=$SMALL_RECIPES
		[[ ${UNIT[$set]} == 1 ]] && recipes=$IMG_RECIPES
		for seed in $(seeds_of "$set"); do
			for rc in $recipes; do
				run "$set" "$rc" "$seed"
			done
		done
		pca "$set"
	done
}

deep() {
	local rc seed
	for seed in $DEEP_SEEDS; do
		for rc in $DEEP_RECIPES; do
			run deep "$rc" "$seed"
		done
	done
	pca deep
}

# table SET: one Markdown table, a row per recipe measured.
table() {
	local set=$1 seeds rc seed
	seeds=$(seeds_of "$set")
	[[ -d $OUT/$set ]] || return 0
	local perrow=${PERROW[$set]} img=${UNIT[$set]}
	echo
	echo "### $set (${FLAGS[$set]}; test MSE per value$([[ $img == 1 ]] && echo ", and ×$perrow per image"))"
	echo
	local hdr="| recipe |" sep="|---|"
	for seed in $seeds; do
		hdr+=" seed $seed |"
		sep+="---:|"
	done
	hdr+=" mean |"
	sep+="---:|"
	[[ $img == 1 ]] && hdr+=" mean ×$perrow |" && sep+="---:|"
	hdr+=" vs old | worst seed vs old | train s (mean) |"
	sep+="---:|---:|---:|"
	echo "$hdr"
	echo "$sep"
	local recipes
	recipes=$(ls "$OUT/$set" | grep -v '^pca$' | sort -t/ -k1,1)
	# old first, then in the order of $RECIPES, then any others.
	local order=() r
	for r in old $IMG_RECIPES $SMALL_RECIPES $DEEP_RECIPES $recipes; do
		[[ -d $OUT/$set/$r ]] || continue
		[[ " ${order[*]:-} " == *" $r "* ]] && continue
		order+=("$r")
	done
	for rc in "${order[@]}"; do
		local line="| $rc |" vals="" times="" olds=""
		for seed in $seeds; do
			local f=$OUT/$set/$rc/s$seed/result of=$OUT/$set/old/s$seed/result
			if [[ -f $f ]]; then
				read -r m s _ <"$f"
				line+=" $(printf '%.5g' "$m") |"
				vals+=" $m"
				times+=" $s"
				if [[ -f $of ]]; then
					read -r om _ _ <"$of"
					olds+=" $m/$om"
				fi
			else
				line+=" – |"
			fi
		done
		[[ -n $vals ]] || continue
		local mean omean=""
		mean=$(echo "$vals" | awk '{s=0; for(i=1;i<=NF;i++) s+=$i; printf "%.5g", s/NF}')
		line+=" $mean |"
		[[ $img == 1 ]] && line+=" $(awk -v m="$mean" -v k="$perrow" 'BEGIN{printf "%.3f", m*k}') |"
		# vs old: mean over the seeds both have; worst seed: the largest ratio.
		if [[ -n $olds ]]; then
			line+=" $(echo "$olds" | awk '{a=0; b=0; w=-1e9; for(i=1;i<=NF;i++){split($i,p,"/"); a+=p[1]; b+=p[2]; r=p[1]/p[2]-1; if(r>w) w=r} printf "%+.1f%% | %+.1f%%", 100*(a/b-1), 100*w}') |"
		else
			line+=" – | – |"
		fi
		line+=" $(echo "$times" | awk '{s=0; for(i=1;i<=NF;i++) s+=$i; printf "%.1f", s/NF}') |"
		echo "$line"
	done
	if [[ -f $OUT/$set/pca ]]; then
		local p
		p=$(cat "$OUT/$set/pca")
		local pl="| PCA (fitted on train) |"
		for seed in $seeds; do pl+=" |"; done
		pl+=" $(printf '%.5g' "$p") |"
		[[ $img == 1 ]] && pl+=" $(awk -v m="$p" -v k="$perrow" 'BEGIN{printf "%.3f", m*k}') |"
		pl+=" | | |"
		echo "$pl"
	fi
}

tables() {
	echo "## Recipes"
	echo
	echo "| recipe | flags |"
	echo "|---|---|"
	local r
	for r in old $IMG_RECIPES $SMALL_RECIPES $DEEP_RECIPES ${!RECIPE[@]}; do
		[[ -n $(ls -d "$OUT"/*/"$r" 2>/dev/null) ]] || continue
		echo "| $r | \`${RECIPE[$r]}\` |"
	done | awk '!seen[$0]++'
	local set
	for set in mnist fashion bc bc200 bcq lowrank deep; do
		table "$set"
	done
}

[[ -x $AEGPU ]] || go build -o "$AEGPU" ./cmd/aegpu
for f in "${TRAIN[mnist]}" "${TRAIN[fashion]}" "${TRAIN[bc]}"; do
	[[ -f $f ]] || {
		say "missing $f: run make data"
		exit 1
	}
done
[[ -f ${TRAIN[lowrank]} ]] || go run scripts/gen-lowrank.go -out data/lowrank

stages=("$@")
[[ ${#stages[@]} -gt 0 ]] || stages=(grid tables)
for st in "${stages[@]}"; do
	case $st in
	grid | deep | tables) "$st" ;;
	*)
		say "unknown stage $st (want grid, deep, tables)"
		exit 2
		;;
	esac
done
