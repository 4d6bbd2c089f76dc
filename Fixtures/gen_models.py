"""Model fixtures for EngineTests: small torchvision-structured ResNets and their outputs.

Writes Fixtures/models/<name>/:
  weights.bin   every state_dict tensor, in state_dict order, little-endian (float32, or
                int64 for num_batches_tracked), concatenated
  weights.json  [{"name", "dtype", "shape", "offset"}] (offset in bytes into weights.bin)
  input.bin     float32 (N, 3, H, W) input batch
  logits.bin    float32 (N, classes) eval-mode logits
  probs.bin     float32 (N, classes) softmax of the logits
  logits_bf16.bin  float32 (N, classes) logits under torch.autocast("cpu", torch.bfloat16)
  meta.json     batch, height, width, classes, block, layers, widths, groups, width_per_group
and Fixtures/models/torchvision_keys.json: the state_dict keys and shapes (no values) of
torchvision's resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d, wide_resnet50_2.

The models are torchvision's own ResNet class and blocks (so the module and key names are
torchvision's), with narrow stage widths so the files stay small. Batch-norm statistics are
made non-trivial: running statistics from a few train-mode passes over random data, then
random affine parameters.
"""
import json
import os

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet


class NarrowResNet(ResNet):
    """torchvision's ResNet with stage widths `widths` instead of 64, 128, 256, 512."""

    def __init__(self, block, layers, widths, num_classes, groups=1, width_per_group=64):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


CASES = [
    # name, block, layers, widths, classes, groups, width_per_group, batch, height, width
    ("basic_w8", BasicBlock, [2, 1, 2, 1], [8, 16, 32, 64], 5, 1, 64, 3, 64, 64),
    ("bottleneck_w8", Bottleneck, [1, 2, 1, 1], [8, 16, 32, 64], 7, 1, 64, 2, 64, 56),
    ("bottleneck_g2", Bottleneck, [1, 1, 1, 1], [8, 16, 32, 64], 4, 2, 32, 2, 49, 45),
]


def randomize_bn(model, gen, batch, height, width):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the passes below
            m.reset_running_stats()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, height, width, generator=gen) * 1.5 + 0.2)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) * 1.0 + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
                # Perturb the statistics a little so they are not exactly the batch's.
                m.running_mean.add_(torch.randn(c, generator=gen) * 0.05)
                m.running_var.mul_(torch.rand(c, generator=gen) * 0.4 + 0.8)
        model.fc.bias.copy_(torch.randn(model.fc.out_features, generator=gen) * 0.1)
    model.eval()


def write_f32(path, t):
    t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def write_torchvision_keys(out_root):
    """Keys and shapes (no values) of torchvision's own architectures, in state_dict order."""
    import torchvision.models as tvm
    names = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
             "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"]
    table = {}
    with torch.device("meta"):
        for name in names:
            sd = getattr(tvm, name)(num_classes=10 if name == "resnet34" else 1000).state_dict()
            table[name] = [[k, list(v.shape)] for k, v in sd.items()]
    with open(os.path.join(out_root, "torchvision_keys.json"), "w") as f:
        json.dump(table, f, separators=(",", ":"))


def main(fixtures_dir):
    out_root = os.path.join(fixtures_dir, "models")
    os.makedirs(out_root, exist_ok=True)
    write_torchvision_keys(out_root)
    torch.set_num_threads(2)
    for seed, (name, block, layers, widths, classes, groups, wpg, n, h, w) in enumerate(CASES):
        torch.manual_seed(1234 + seed)
        gen = torch.Generator().manual_seed(4321 + seed)
        model = NarrowResNet(block, layers, widths, classes, groups=groups, width_per_group=wpg)
        randomize_bn(model, gen, n, h, w)
        x = torch.randn(n, 3, h, w, generator=gen)
        with torch.inference_mode():
            logits = model(x)
            probs = torch.softmax(logits, dim=1)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                logits_bf16 = model(x).float()

        d = os.path.join(out_root, name)
        os.makedirs(d, exist_ok=True)
        entries, offset = [], 0
        with open(os.path.join(d, "weights.bin"), "wb") as f:
            for key, t in model.state_dict().items():
                t = t.detach().contiguous()
                if t.dtype == torch.int64:
                    data, dtype = t.numpy().astype("<i8").tobytes(), "int64"
                else:
                    data, dtype = t.to(torch.float32).numpy().astype("<f4").tobytes(), "float32"
                f.write(data)
                entries.append({"name": key, "dtype": dtype, "shape": list(t.shape), "offset": offset})
                offset += len(data)
        with open(os.path.join(d, "weights.json"), "w") as f:
            json.dump(entries, f, indent=1)
        write_f32(os.path.join(d, "input.bin"), x)
        write_f32(os.path.join(d, "logits.bin"), logits)
        write_f32(os.path.join(d, "probs.bin"), probs)
        write_f32(os.path.join(d, "logits_bf16.bin"), logits_bf16)
        meta = {
            "batch": n, "height": h, "width": w, "classes": classes,
            "block": block.__name__, "layers": layers, "widths": widths,
            "groups": groups, "width_per_group": wpg,
            "bf16_max_abs_diff": float((logits_bf16 - logits).abs().max()),
            "max_abs_logit": float(logits.abs().max()),
        }
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(f"{name}: {offset} weight bytes, logits max {meta['max_abs_logit']:.4g}, "
              f"bf16 autocast max diff {meta['bf16_max_abs_diff']:.3g}")


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
