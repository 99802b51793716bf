"""One training loop for every stage: AdamW, warm-up + cosine schedule, gradient clipping, mixed precision on
CUDA, DistributedDataParallel under torchrun, a checkpoint per epoch (or every few) that a rerun resumes from, an
optional wall-clock budget that the schedule is fitted to, a JSON-lines metrics log and a progress bar.

A stage supplies a model and ``loss_fn(model, batch) -> loss``. The loss runs inside `Objective.forward` so
that DistributedDataParallel sees a forward call and synchronises gradients, whatever method the loss uses.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm import tqdm

from cardionets.device import autocast
from cardionets.models import PretrainedModule

from .config import OptimConfig
from .distributed import Context, barrier, mean_across_ranks

LossFn = Callable[[nn.Module, object], torch.Tensor]
EMA_FILE = "ema.safetensors"


class Objective(nn.Module):
    """Wraps a model and its loss so the loss is the module's forward (what DDP hooks into)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


class ExponentialMovingAverage:
    """A running average of a model's weights, which samples better than the last step's (MAR, DiT)."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.weights = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    def decay_at(self, step: int) -> float:
        """The decay for update number ``step`` (1-based): warmed up as (1 + step) / (10 + step), so that a short
        run's average is not mostly its random initialisation (0.999 ** 1500 still weighs it 22 %)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = self.decay_at(step)
        for name, parameter in model.named_parameters():
            if name in self.weights:
                self.weights[name].lerp_(parameter.detach(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        for name, parameter in model.named_parameters():
            if name in self.weights:
                parameter.copy_(self.weights[name])


@dataclass
class TrainResult:
    epoch_losses: list[float]
    steps: int
    seconds: float
    resumed_from_epoch: int = 0
    ema: ExponentialMovingAverage | None = None  # when the stage asked for one; `copy_to` the model to use it


class MetricsLog:
    """Appends one JSON object per line; the admin page plots these."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, **record) -> None:
        if self.enabled:
            with self.path.open("a") as file:
                file.write(json.dumps({"time": time.time(), **record}) + "\n")


def train(
    model: PretrainedModule, loss_fn: LossFn, dataset: Dataset, optim: OptimConfig, checkpoint_dir: Path,
    stage: str, log: MetricsLog, context: Context, device: torch.device, seed: int,
    collate_fn: Callable | None = None, lr_scales: dict[nn.Module, float] | None = None,
) -> TrainResult:
    """Train ``model`` in place; checkpoints go to ``checkpoint_dir`` and a rerun resumes from the last epoch.

    ``lr_scales`` maps submodules of ``model`` to a multiplier of the stage's learning rate (default 1).
    """
    started = time.perf_counter()
    model.to(device)
    objective = Objective(model, loss_fn)
    if context.distributed:
        objective = DistributedDataParallel(objective, device_ids=[device.index] if device.type == "cuda" else None)
    generator = torch.Generator().manual_seed(seed)
    sampler = (DistributedSampler(dataset, shuffle=True, seed=seed) if context.distributed
               else RandomSampler(dataset, generator=generator))
    loader = DataLoader(dataset, batch_size=optim.batch_size, sampler=sampler, drop_last=len(dataset) > optim.batch_size,
                        collate_fn=collate_fn)
    steps_per_epoch = max(1, len(loader))
    plan = StepPlan(optim.max_steps or optim.epochs * steps_per_epoch, optim.warmup_fraction)
    optimizer = torch.optim.AdamW(_parameter_groups(model, optim.lr, lr_scales or {}), lr=optim.lr,
                                  weight_decay=optim.weight_decay)
    schedule = _warmup_cosine(optimizer, plan)

    first_epoch, step, losses = _resume(checkpoint_dir, model, optimizer, schedule)
    budget = TimeBudget(optim.max_minutes * 60, started, step) if optim.max_minutes else None
    ema = ExponentialMovingAverage(model, optim.ema_decay) if optim.ema_decay else None
    if ema is not None and (checkpoint_dir / EMA_FILE).is_file():
        ema.weights = {name: t.to(device) for name, t in load_file(checkpoint_dir / EMA_FILE).items()}
    for epoch in range(first_epoch, optim.epochs):
        if context.distributed:
            sampler.set_epoch(epoch)
        objective.train()
        running, count = 0.0, 0
        bar = tqdm(loader, desc=f"{stage} epoch {epoch + 1}/{optim.epochs}", disable=not context.is_main,
                   mininterval=5.0, leave=False)
        for batch in bar:
            batch = _to_device(batch, device)
            with autocast(device):
                loss = objective(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if optim.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
            optimizer.step()
            schedule.step()
            if ema is not None:
                ema.update(model, step + 1)
            step += 1
            running += float(loss.detach())  # also waits for the GPU, so the budget's step times are true
            count += 1
            if budget is not None and budget.fit(plan, step):
                plan.total = int(mean_across_ranks(plan.total, context))  # every rank stops on the same step
                log.write(stage=stage, step=step, budget_steps=plan.total, seconds_per_step=budget.seconds_per_step)
            bar.set_postfix(loss=f"{running / count:.4f}")
            if step % 10 == 0:
                log.write(stage=stage, step=step, epoch=epoch, loss=float(loss.detach()), lr=schedule.get_last_lr()[0])
            if step >= plan.total:
                break
        epoch_loss = mean_across_ranks(running / max(count, 1), context)
        losses.append(epoch_loss)
        log.write(stage=stage, step=step, epoch=epoch, epoch_loss=epoch_loss, lr=schedule.get_last_lr()[0])
        last = step >= plan.total or epoch + 1 == optim.epochs
        if context.is_main and (last or (epoch + 1 - first_epoch) % optim.checkpoint_every == 0):
            _save_checkpoint(checkpoint_dir, model, optimizer, schedule, epoch + 1, step, losses)
            if ema is not None:
                save_file({name: t.detach().cpu().contiguous() for name, t in ema.weights.items()},
                          checkpoint_dir / EMA_FILE)
        barrier(context)
        if step >= plan.total:
            break
    return TrainResult(losses, step, time.perf_counter() - started, first_epoch, ema)


def _parameter_groups(model: nn.Module, lr: float, lr_scales: dict[nn.Module, float]) -> list[dict]:
    """One optimizer group per scaled submodule, then one for every other parameter (the order is fixed, so a
    checkpoint's optimizer state lines up on resume)."""
    groups, taken = [], set()
    for module, scale in lr_scales.items():
        parameters = [p for p in module.parameters() if p.requires_grad]
        taken.update(id(p) for p in parameters)
        groups.append({"params": parameters, "lr": lr * scale})
    groups.append({"params": [p for p in model.parameters() if p.requires_grad and id(p) not in taken], "lr": lr})
    return [group for group in groups if group["params"]]


@dataclass
class StepPlan:
    """How many optimizer steps the run takes; a `TimeBudget` may shorten it, and the schedule follows."""

    total: int
    warmup_fraction: float

    @property
    def warmup(self) -> int:
        return max(1, int(self.total * self.warmup_fraction))


class TimeBudget:
    """Fits the step plan to a wall-clock budget once, from the pace of steps ``SETTLE`` to ``SETTLE + TIMED``
    of this run (the first ones pay for allocations and kernel choice). Epoch ends (checkpoints, a new loader)
    are not in that pace, hence the margin."""

    SETTLE, TIMED, MARGIN = 5, 20, 0.9

    def __init__(self, seconds: float, started: float, first_step: int):
        self.seconds, self.started, self.first_step = seconds, started, first_step
        self.mark: float | None = None
        self.seconds_per_step: float | None = None

    def fit(self, plan: StepPlan, step: int) -> bool:
        """Called after each step; True on the step where the plan was fitted."""
        done = step - self.first_step
        if done == self.SETTLE:
            self.mark = time.perf_counter()
        if done != self.SETTLE + self.TIMED or self.mark is None:
            return False
        now = time.perf_counter()
        self.seconds_per_step = (now - self.mark) / self.TIMED
        left = self.MARGIN * (self.seconds - (now - self.started))
        plan.total = max(step + 1, min(plan.total, step + int(left / self.seconds_per_step)))
        return True


def _warmup_cosine(optimizer, plan: StepPlan):
    def factor(step: int) -> float:
        warmup = plan.warmup  # read at each step: a time budget may have shortened the plan
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, plan.total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch


# --- checkpoints: model folder + optimizer tensors in safetensors + small JSON; no pickle anywhere -------------

def _save_checkpoint(directory: Path, model: PretrainedModule, optimizer, schedule, epoch: int, step: int,
                     losses: list[float]) -> None:
    model.save_pretrained(directory / "model")
    state = optimizer.state_dict()
    tensors = {f"{index}.{key}": value.detach().cpu().contiguous()
               for index, entry in state["state"].items() for key, value in entry.items()
               if isinstance(value, torch.Tensor)}
    save_file(tensors, directory / "optimizer.safetensors")
    record = {"epoch": epoch, "step": step, "losses": losses, "param_groups": state["param_groups"],
              "schedule": schedule.state_dict()}
    record["schedule"].pop("lr_lambdas", None)  # functions cannot be serialised; rebuilt from the config
    (directory / "training_state.json").write_text(json.dumps(record))


def _resume(directory: Path, model: PretrainedModule, optimizer, schedule) -> tuple[int, int, list[float]]:
    state_path = directory / "training_state.json"
    if not state_path.is_file():
        return 0, 0, []
    record = json.loads(state_path.read_text())
    model.load_state_dict(load_file(directory / "model" / "model.safetensors"), strict=True)
    tensors = load_file(directory / "optimizer.safetensors")
    optimizer_state: dict = {"state": {}, "param_groups": record["param_groups"]}
    for name, tensor in tensors.items():
        index, key = name.split(".", 1)
        optimizer_state["state"].setdefault(int(index), {})[key] = tensor
    optimizer.load_state_dict(optimizer_state)
    schedule.load_state_dict({**schedule.state_dict(), **record["schedule"]})
    return int(record["epoch"]), int(record["step"]), list(record["losses"])
