#!/usr/bin/env bash
# `make demo`: the README's first command on an embedded default. Fine-tunes the resnet18 in
# weights/ (trained by Graft on five Fashion-MNIST classes) on the other five classes, then
# predicts one image and the whole validation folder, and compares it with a mobilenet_v2
# trained from scratch on the same data (graft compare). Outputs go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/.build/release"
OUT=demo-out
IDX="$OUT/fashion-mnist-idx"
DATA=fashion5
SIZE=(--image-size 32 --resize 32)
mkdir -p "$IDX"
for f in /usr/share/datasets/fashion-mnist/*.gz; do
  [ -s "$IDX/$(basename "$f" .gz)" ] || gunzip -c "$f" > "$IDX/$(basename "$f" .gz)"
done
cd "$OUT"
if [ ! -d "$DATA" ]; then
  echo "== preparing $OUT/$DATA: 5 Fashion-MNIST classes the pretrained model never saw"
  "$BIN/demo_data" --idx fashion-mnist-idx --classes 5,6,7,8,9 --train-per-class 400 --val-per-class 100 "$DATA"
fi
echo
echo "== finetune --weights ../weights/fashion04-resnet18.pth --classes 5 ${SIZE[*]} --epochs 4 --batch-size 32 --lr 1e-3 $DATA"
"$BIN/finetune" --weights ../weights/fashion04-resnet18.pth --classes 5 "${SIZE[@]}" \
  --epochs 4 --batch-size 32 --lr 1e-3 "$DATA"
IMAGE=$(ls "$DATA/val/sneaker" | head -1)
echo
echo "== predict $DATA/val/sneaker/$IMAGE"
"$BIN/predict" "$DATA/val/sneaker/$IMAGE" 2>&1  # the sizes come from metrics.json
echo
echo "== batch_predict --recursive --csv predictions.csv $DATA/val"
"$BIN/batch_predict" --recursive --csv predictions.csv "$DATA/val" 2>&1
head -4 predictions.csv
awk -F, 'NR > 1 { n++; split($1, p, "/"); if (p[3] == $2) ok++ } END { printf "val accuracy from predictions.csv: %d/%d = %.3f\n", ok, n, ok / n }' predictions.csv
echo
echo "== graft compare --weights ../weights/fashion04-resnet18.pth,none --arch mobilenet_v2 --classes 5 ${SIZE[*]} --epochs 3 --batch-size 32 --lr 1e-3 $DATA"
echo "   (the tutorials' homework: the pretrained resnet18 beside a mobilenet_v2 trained from scratch, same recipe, split and seed)"
rm -rf compare  # a fresh comparison each time, as the finetune above trains afresh (a rerun would continue it)
"$BIN/graft" compare --weights ../weights/fashion04-resnet18.pth,none --arch mobilenet_v2 --classes 5 "${SIZE[@]}" \
  --epochs 3 --batch-size 32 --lr 1e-3 "$DATA"
echo
echo "Outputs in $OUT/: resNet18.pth (torch.load-able), class_indices.json, metrics.json, report.html, predictions.csv;"
echo "compare/compare.html, compare/compare.json and each compared model's folder"
