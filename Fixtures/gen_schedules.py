"""Learning-rate schedule fixtures: the rate torch.optim.lr_scheduler gives every optimizer step.

Writes Fixtures/schedules/<case>.json, one per schedule finetune offers, each with the run's
shape (base lr, epochs, steps per epoch, warmup steps, the val losses fed to
ReduceLROnPlateau) and `lrs`: the learning rate of every optimizer step, read from the
optimizer before the step, for a loop that calls optimizer.step() then the per-step
scheduler's step() after every batch and the per-epoch scheduler's step() after every epoch:
- warmup_cosine: SequentialLR([LinearLR(start_factor=0.01, total_iters=W),
  CosineAnnealingLR(T_max=total - W)], milestones=[W]), stepped per batch.
- cosine: CosineAnnealingLR(T_max=total) per batch.
- warmup_none: LinearLR(start_factor=0.01, total_iters=W) per batch.
- onecycle: OneCycleLR(max_lr=lr, total_steps=total, cycle_momentum=False) per batch
  (torch's other defaults: pct_start 0.3, cos annealing, div_factor 25, final_div_factor 1e4).
- step, warmup_step: StepLR(step_size, gamma=0.1) per epoch (with LinearLR per batch).
- plateau, warmup_plateau, plateau_tiny: ReduceLROnPlateau(factor=0.1, patience=P) per epoch
  on a fixed list of val losses (plateau_tiny: a rate so small that torch's eps=1e-8 stops the
  reductions).
W is round(warmup_epochs * steps_per_epoch), Python's round (half to even).
"""
import json
import os

import torch

START = 0.01


def run(lr, epochs, spe, per_step=None, per_epoch=None, val_losses=None):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    step_s = per_step(opt) if per_step else None
    epoch_s = per_epoch(opt) if per_epoch else None
    lrs = []
    for e in range(epochs):
        for _ in range(spe):
            lrs.append(opt.param_groups[0]["lr"])
            p.grad = torch.ones(1)
            opt.step()
            if step_s is not None:
                step_s.step()
        if epoch_s is not None:
            if val_losses is not None:
                epoch_s.step(val_losses[e])
            else:
                epoch_s.step()
    return lrs


def main(fixtures_dir):
    out = os.path.join(fixtures_dir, "schedules")
    os.makedirs(out, exist_ok=True)
    L = torch.optim.lr_scheduler
    losses = [1.0, 0.8, 0.81, 0.8, 0.79995, 0.9, 0.7, 0.71, 0.72, 0.73, 0.74, 0.75]
    cases = {}

    def case(name, lr, epochs, spe, warmup_epochs=0.0, schedule="none", step_size=1, plateau_patience=2, val_losses=None):
        W = round(warmup_epochs * spe)
        total = epochs * spe
        warm = (lambda o: L.LinearLR(o, start_factor=START, end_factor=1.0, total_iters=W)) if W > 0 else None
        per_step = per_epoch = None
        if schedule == "cosine":
            cos = lambda o: L.CosineAnnealingLR(o, T_max=total - W)
            per_step = (lambda o: L.SequentialLR(o, [warm(o), cos(o)], milestones=[W])) if W > 0 else cos
        elif schedule == "onecycle":
            per_step = lambda o: L.OneCycleLR(o, max_lr=lr, total_steps=total, cycle_momentum=False)
        else:
            per_step = warm
            if schedule == "step":
                per_epoch = lambda o: L.StepLR(o, step_size=step_size, gamma=0.1)
            elif schedule == "plateau":
                per_epoch = lambda o: L.ReduceLROnPlateau(o, mode="min", factor=0.1, patience=plateau_patience)
        lrs = run(lr, epochs, spe, per_step, per_epoch, val_losses if schedule == "plateau" else None)
        cases[name] = {"lr": lr, "epochs": epochs, "steps_per_epoch": spe, "warmup_epochs": warmup_epochs,
                       "warmup_steps": W, "schedule": schedule, "step_size": step_size,
                       "plateau_patience": plateau_patience,
                       "val_losses": (val_losses[:epochs] if schedule == "plateau" else None), "lrs": lrs}

    case("warmup_cosine", 0.1, 5, 7, warmup_epochs=1.3, schedule="cosine")
    case("warmup_cosine_half", 0.01, 4, 5, warmup_epochs=0.5, schedule="cosine")   # 2.5 rounds to 2
    case("cosine", 0.05, 3, 11, schedule="cosine")
    case("warmup_none", 1e-3, 3, 6, warmup_epochs=2.0)
    case("onecycle", 0.1, 4, 9, schedule="onecycle")
    case("onecycle_short", 3e-4, 2, 3, schedule="onecycle")
    case("step", 0.1, 7, 3, schedule="step", step_size=2)
    case("warmup_step", 0.1, 5, 4, warmup_epochs=1.5, schedule="step", step_size=2)
    case("plateau", 0.1, 12, 2, schedule="plateau", plateau_patience=2, val_losses=losses)
    case("warmup_plateau", 0.1, 8, 3, warmup_epochs=0.7, schedule="plateau", plateau_patience=1, val_losses=losses)
    case("plateau_tiny", 1e-6, 12, 1, schedule="plateau", plateau_patience=0, val_losses=[1.0] * 12)
    for name, c in cases.items():
        with open(os.path.join(out, name + ".json"), "w") as f:
            json.dump(c, f, indent=1)


if __name__ == "__main__":
    main(os.path.dirname(os.path.abspath(__file__)))
