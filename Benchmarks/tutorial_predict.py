"""The tutorial's predict.py (seeds/, Test5_resnet), minus its matplotlib window: what a
`predict image.jpg` replaces. Used by `make bench` to time a whole process against Graft's.

    python tutorial_predict.py IMAGE [WEIGHTS] [CLASS_INDICES]
"""
import json
import sys

import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet34


def main():
    img_path = sys.argv[1]
    weights = sys.argv[2] if len(sys.argv) > 2 else "./resNet34.pth"
    indices = sys.argv[3] if len(sys.argv) > 3 else "./class_indices.json"
    device = torch.device("cpu")
    data_transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    img = Image.open(img_path).convert("RGB")
    img = torch.unsqueeze(data_transform(img), dim=0)
    with open(indices) as f:
        class_indict = json.load(f)
    model = resnet34(num_classes=len(class_indict)).to(device)
    model.load_state_dict(torch.load(weights, map_location=device))
    model.eval()
    with torch.no_grad():
        output = torch.squeeze(model(img.to(device))).cpu()
        predict = torch.softmax(output, dim=0)
    for i in range(len(predict)):
        print("class: {:10}   prob: {:.3}".format(class_indict[str(i)], predict[i].numpy()))


if __name__ == "__main__":
    main()
