"""The tutorial's batch_predict.py (seeds/, Test5_resnet: batches of 8 images through resnet34,
`image: ... class: ... prob: ...` per image), reading the folder from its argument: what a
`batch_predict DIR` replaces. Used by `make bench` to time a whole process against Graft's.

    python tutorial_batch_predict.py DIR [WEIGHTS] [CLASS_INDICES]
"""
import json
import os
import sys

import torch
from PIL import Image
from torchvision import transforms
from torchvision.models import resnet34


def main():
    imgs_root = sys.argv[1]
    weights = sys.argv[2] if len(sys.argv) > 2 else "./resNet34.pth"
    indices = sys.argv[3] if len(sys.argv) > 3 else "./class_indices.json"
    device = torch.device("cpu")
    data_transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    img_path_list = [os.path.join(imgs_root, i) for i in sorted(os.listdir(imgs_root)) if i.endswith(".jpg")]
    with open(indices) as f:
        class_indict = json.load(f)
    model = resnet34(num_classes=len(class_indict)).to(device)
    model.load_state_dict(torch.load(weights, map_location=device))
    model.eval()
    batch_size = 8
    with torch.no_grad():
        for ids in range(0, len(img_path_list) // batch_size):
            img_list = []
            for img_path in img_path_list[ids * batch_size: (ids + 1) * batch_size]:
                img_list.append(data_transform(Image.open(img_path).convert("RGB")))
            batch_img = torch.stack(img_list, dim=0)
            output = model(batch_img.to(device)).cpu()
            predict = torch.softmax(output, dim=1)
            probs, classes = torch.max(predict, dim=1)
            for idx, (pro, cla) in enumerate(zip(probs, classes)):
                print("image: {}  class: {}  prob: {:.3}".format(img_path_list[ids * batch_size + idx],
                                                                 class_indict[str(cla.numpy())], pro.numpy()))


if __name__ == "__main__":
    main()
