# Amit (2019)'s six protocols (Figs. 4-7 and 10), shared by the table scripts:
# BP with softmax, BP with the hinge loss, URFB, FRFB, and both at 50% connectivity.
# Source it from the repository root, then
#   run_amit_protocols OUT_DIR FLAGS...   one ./run.sh per protocol, in OUT_DIR/<name>
# and "${amit_protocols[@]/#/OUT_DIR/}" lists the run directories in table order.
amit_protocols=(bp-softmax bp-hinge urfb frfb urfb-c0.5 frfb-c0.5)

run_amit_protocols() {
  local out="$1"
  shift
  ./run.sh "$@" --rule=bp --loss=softmax --model_dir="$out/bp-softmax"
  ./run.sh "$@" --rule=bp --loss=hinge --model_dir="$out/bp-hinge"
  ./run.sh "$@" --rule=urfb --model_dir="$out/urfb"
  ./run.sh "$@" --rule=frfb --model_dir="$out/frfb"
  ./run.sh "$@" --rule=urfb --connectivity=0.5 --model_dir="$out/urfb-c0.5"
  ./run.sh "$@" --rule=frfb --connectivity=0.5 --model_dir="$out/frfb-c0.5"
}
