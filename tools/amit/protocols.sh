# Amit (2019)'s six protocols (Figs. 4-7 and 10), shared by tools/amit/'s table scripts:
# BP with softmax, BP with the hinge loss, URFB, FRFB, and both at 50% connectivity.
# Source it from the repository root, then
#   run_amit_protocol NAME OUT_DIR FLAGS...   one protocol's ./run.sh, in OUT_DIR/NAME
#   run_amit_protocols OUT_DIR FLAGS...       all six, in table order
# and "${amit_protocols[@]/#/OUT_DIR/}" lists the run directories in table order.
amit_protocols=(bp-softmax bp-hinge urfb frfb urfb-c0.5 frfb-c0.5)

run_amit_protocol() {
  local name="$1" out="$2"
  shift 2
  local own
  case "$name" in
    bp-softmax) own=(--rule=bp --loss=softmax) ;;
    bp-hinge) own=(--rule=bp --loss=hinge) ;;
    urfb) own=(--rule=urfb) ;;
    frfb) own=(--rule=frfb) ;;
    urfb-c0.5) own=(--rule=urfb --connectivity=0.5) ;;
    frfb-c0.5) own=(--rule=frfb --connectivity=0.5) ;;
    *) echo "unknown protocol '$name': ${amit_protocols[*]}" >&2; return 2 ;;
  esac
  ./run.sh "$@" "${own[@]}" --model_dir="$out/$name"
}

run_amit_protocols() {
  local out="$1" name
  shift
  for name in "${amit_protocols[@]}"; do
    run_amit_protocol "$name" "$out" "$@"
  done
}
