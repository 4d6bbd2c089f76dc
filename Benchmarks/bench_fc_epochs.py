"""PyTorch side of the fc-only run benchmark: what the tutorial's train.py does with every
parameter but fc frozen (the trunk's batch norms in eval mode) and no augmentation, for a
number of epochs over an image folder; prints the seconds per epoch and in all.

    python bench_fc_epochs.py DATA WEIGHTS.pth CLASSES [--epochs 3] [--batch 16]
"""
import argparse
import time

import torch
import torchvision
from torchvision import datasets, transforms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("weights")
    p.add_argument("classes", type=int)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=16)
    a = p.parse_args()
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                             transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    train = torch.utils.data.DataLoader(datasets.ImageFolder(a.data + "/train", tf), batch_size=a.batch, shuffle=True, num_workers=2)
    val = torch.utils.data.DataLoader(datasets.ImageFolder(a.data + "/val", tf), batch_size=a.batch, num_workers=2)
    sd = {k: v.float() if v.is_floating_point() else v for k, v in torch.load(a.weights, weights_only=True).items()}
    arch = "resnet18" if "layer1.2.conv1.weight" not in sd else "resnet34"
    net = getattr(torchvision.models, arch)(num_classes=sd["fc.weight"].shape[0])
    net.load_state_dict(sd)
    net.fc = torch.nn.Linear(net.fc.in_features, a.classes)
    for n, q in net.named_parameters():
        q.requires_grad = n.startswith("fc.")
    opt = torch.optim.Adam(net.fc.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(a.epochs):
        e0 = time.perf_counter()
        net.train()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
        for x, y in train:
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            opt.step()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val:
                correct += (net(x).argmax(1) == y).sum().item()
        print(f"epoch {epoch + 1}: {time.perf_counter() - e0:.1f} s, val accuracy {correct / len(val.dataset):.3f}")
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
