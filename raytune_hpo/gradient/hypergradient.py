"""Gradient-based HPO: tune continuous hyperparameters by gradient descent on the validation loss.

The model is trained by plain SGD (with optional momentum and weight decay, exactly the update
of :class:`torch.optim.SGD`); the training steps are written functionally (``torch.func``:
``functional_call`` + ``grad``), so the validation loss after ``K`` steps is a differentiable
function of the learning rate, the weight decay(s) and the momentum. Every ``K`` steps the
hypergradient d val_loss / d hyperparameters is taken through those ``K`` unrolled steps only
(truncated back-propagation through the optimisation, Shaban et al. 2019): the weights at the
start of a window are constants, so memory holds one window, never the whole run. The
hyperparameters live in an unconstrained parametrisation (log lr, log decay, logit momentum) and
are updated by Adam.

What it can tune: the SGD learning rate, weight decay (one, or one per layer), momentum —
continuous hyperparameters the training loss depends on differentiably. What it cannot: discrete
or structural choices (width, depth, batch size, activation), nor anything that does not enter
the update differentiably (dropout rate through a sampled mask, number of epochs); those stay
with a searcher (see :func:`fit` for a trial in which a searcher picks them).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad

from raytune_hpo._options import is_int
from raytune_hpo.errors import ConfigError

TUNABLE = ("lr", "weight_decay", "momentum")
"""The hyperparameters :class:`HyperGradient` knows: their parametrisations are log, log, logit."""

DEFAULT_BOUNDS = {"lr": (1e-5, 10.0), "weight_decay": (1e-8, 1.0), "momentum": (0.0, 0.999)}

Batch = Sequence[torch.Tensor]  # (inputs, targets)


def _encode(name: str, value: float) -> float:
    if name == "momentum":
        return math.log(value / (1.0 - value))
    return math.log(value)


def _decode(name: str, raw: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(raw) if name == "momentum" else torch.exp(raw)


def _layer(parameter_name: str) -> str:
    """The layer (module path) a parameter belongs to: '0' for '0.weight', 'encoder.fc' for
    'encoder.fc.bias'."""
    return parameter_name.rsplit(".", 1)[0] if "." in parameter_name else ""


class HyperGradient:
    """Train ``model`` by SGD while tuning its continuous hyperparameters by hypergradients.

    Args:
        model: the network; its parameters are trained (and written back after every step).
        loss_fn: ``loss_fn(outputs, targets)``, used for training and validation.
        hyperparams: the hyperparameters to tune and their initial values, among ``lr``,
            ``weight_decay`` (> 0: it is tuned in log space) and ``momentum`` (in (0, 1)).
        fixed: values of the others, kept constant (defaults: weight_decay 0, momentum 0); ``lr``
            must be in one of the two.
        per_layer_decay: one weight decay per layer (module) instead of one for all.
        unroll: K, the window of training steps the hypergradient goes through.
        hyper_lr: Adam's step size on the unconstrained hyperparameters (log lr...).
        bounds: ``{name: (low, high)}`` the tuned values are kept within (after each update).

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = torch.nn.Linear(4, 1)
    >>> hg = HyperGradient(model, torch.nn.functional.mse_loss, {"lr": 0.1, "weight_decay": 1e-3}, unroll=2)
    >>> x, y = torch.randn(8, 4), torch.randn(8, 1)
    >>> info = hg.step([(x, y), (x, y)], (x, y))
    >>> sorted(info)
    ['hypergrad_norm', 'lr', 'train_loss', 'val_loss', 'weight_decay']
    >>> sorted(hg.values())
    ['lr', 'weight_decay']
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        hyperparams: Mapping[str, float] | None = None,
        *,
        fixed: Mapping[str, float] | None = None,
        per_layer_decay: bool = False,
        unroll: int = 10,
        hyper_lr: float = 0.05,
        bounds: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        hyperparams = dict(hyperparams if hyperparams is not None else {"lr": 0.05, "weight_decay": 1e-4})
        fixed = dict(fixed or {})
        for name in (*hyperparams, *fixed):
            if name not in TUNABLE:
                raise ConfigError(
                    f"hyperparams.{name}: cannot be tuned by hypergradients; use one of {', '.join(TUNABLE)} "
                    "(discrete choices stay with a searcher)"
                )
        if set(hyperparams) & set(fixed):
            raise ConfigError(f"fixed: {sorted(set(hyperparams) & set(fixed))} also in hyperparams; put each in one")
        if "lr" not in hyperparams and "lr" not in fixed:
            raise ConfigError("hyperparams: needs an initial lr (or fixed={'lr': ...})")
        for name, value in hyperparams.items():
            ok = 0.0 < value < 1.0 if name == "momentum" else value > 0.0
            if not ok:
                need = "in (0, 1)" if name == "momentum" else "> 0 (it is tuned in log space)"
                raise ConfigError(f"hyperparams.{name}: must be {need}, got {value!r}")
        if not is_int(unroll) or unroll < 1:
            raise ConfigError(f"unroll: must be a positive integer, got {unroll!r}")
        if per_layer_decay and "weight_decay" not in hyperparams:
            raise ConfigError("per_layer_decay: needs weight_decay in hyperparams")

        self.model = model
        self.loss_fn = loss_fn
        self.unroll = unroll
        self.per_layer_decay = per_layer_decay
        self.bounds = {**DEFAULT_BOUNDS, **(bounds or {})}
        self.fixed = {"weight_decay": 0.0, "momentum": 0.0, **fixed}
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.layers = sorted({_layer(n) for n in self.names}, key=[_layer(n) for n in self.names].index)

        params = dict(model.named_parameters())
        self.params = {n: params[n].detach().clone() for n in self.names}
        self.buffers = {n: b.detach() for n, b in model.named_buffers()}
        self.momentum_buffers = {n: torch.zeros_like(p) for n, p in self.params.items()}

        dtype = next(iter(self.params.values())).dtype
        device = next(iter(self.params.values())).device
        self.raw: dict[str, torch.Tensor] = {}
        for name, value in hyperparams.items():
            size = len(self.layers) if (name == "weight_decay" and per_layer_decay) else 1
            self.raw[name] = torch.full((size,), _encode(name, value), dtype=dtype, device=device)
        self.optimizer = (
            torch.optim.Adam([t.requires_grad_() for t in self.raw.values()], lr=hyper_lr) if self.raw else None
        )
        self.steps = 0  # training steps taken
        self.hyper_steps = 0  # hyperparameter updates made
        self.last_unrolled = 0  # training steps the last hypergradient went through (<= unroll)

    # -- the differentiable inner loop ---------------------------------------------------------

    def _hyper(self, raw: Mapping[str, torch.Tensor]) -> dict[str, Any]:
        """lr, momentum (scalars) and the weight decay of each parameter, from raw values."""
        values: dict[str, torch.Tensor | float] = {
            n: (_decode(n, raw[n]) if n in raw else self.fixed[n]) for n in TUNABLE
        }
        wd = values["weight_decay"]
        decay: dict[str, torch.Tensor | float]  # a tensor where tuned, else the fixed value
        if isinstance(wd, torch.Tensor):
            if self.per_layer_decay:
                decay = {n: wd[self.layers.index(_layer(n))] for n in self.names}
            else:
                decay = {n: wd[0] for n in self.names}
        else:
            decay = {n: wd for n in self.names}
        lr = values["lr"][0] if isinstance(values["lr"], torch.Tensor) else values["lr"]
        mu = values["momentum"][0] if isinstance(values["momentum"], torch.Tensor) else values["momentum"]
        return {"lr": lr, "momentum": mu, "decay": decay}

    def _train_loss(self, params, x, y):
        return self.loss_fn(functional_call(self.model, (params, self.buffers), (x,)), y)

    def _unrolled(self, raw, params, momentum_buffers, batches, val_batch):
        """The validation loss after SGD steps on ``batches`` from (params, momentum buffers),
        as a function of the raw hyperparameters; aux: the loss, new weights and momentum buffers."""
        h = self._hyper(raw)
        grad_fn = grad(self._train_loss)
        self.last_unrolled = 0
        for x, y in batches:
            g = grad_fn(params, x, y)
            new_params, new_buffers = {}, {}
            for n in self.names:
                d = g[n] + h["decay"][n] * params[n]
                b = h["momentum"] * momentum_buffers[n] + d
                new_buffers[n] = b
                new_params[n] = params[n] - h["lr"] * b
            params, momentum_buffers = new_params, new_buffers
            self.last_unrolled += 1
        training = self.model.training
        self.model.eval()
        try:
            x_val, y_val = val_batch
            val_loss = self._train_loss(params, x_val, y_val)
        finally:
            self.model.train(training)
        return val_loss, (val_loss, params, momentum_buffers)

    # -- public ---------------------------------------------------------------------------------

    def hypergradient(self, train_batches: Sequence[Batch], val_batch: Batch) -> dict[str, torch.Tensor]:
        """d val_loss / d raw hyperparameter (log lr, log decay, logit momentum) through SGD
        steps on ``train_batches`` from the current weights; changes nothing."""
        grads, _ = grad(self._unrolled, has_aux=True)(
            {n: t.detach() for n, t in self.raw.items()},
            self.params,
            self.momentum_buffers,
            list(train_batches),
            val_batch,
        )
        return grads

    def step(self, train_batches: Iterable[Batch], val_batch: Batch) -> dict[str, float]:
        """Train on ``train_batches``, one hyperparameter update every ``unroll`` of them (a
        last, shorter window included), the hypergradient taken on ``val_batch``.

        Returns the last window's ``val_loss`` (after its steps, before the update),
        ``train_loss`` (its mean), ``hypergrad_norm``, and the new hyperparameter values."""
        batches = list(train_batches)
        if not batches:
            raise ValueError("step: needs at least one training batch")
        info: dict[str, float] = {}
        for start in range(0, len(batches), self.unroll):
            window = batches[start : start + self.unroll]
            raw = {n: t.detach() for n, t in self.raw.items()}
            grads, (val_loss, params, buffers) = grad(self._unrolled, has_aux=True)(
                raw, self.params, self.momentum_buffers, window, val_batch
            )
            # Truncation: the next window starts from constants, so no graph outlives this one.
            self.params = {n: p.detach() for n, p in params.items()}
            self.momentum_buffers = {n: b.detach() for n, b in buffers.items()}
            self.steps += len(window)
            if self.optimizer is not None:
                self.optimizer.zero_grad()
                for name, t in self.raw.items():
                    t.grad = grads[name].detach().clone()
                self.optimizer.step()
            self._clamp()
            self.hyper_steps += 1
            with torch.no_grad():
                train_loss = sum(float(self._train_loss(self.params, x, y)) for x, y in window[-1:])
            info = {
                "val_loss": float(val_loss),
                "train_loss": train_loss,
                "hypergrad_norm": math.sqrt(sum(float((g.detach() ** 2).sum()) for g in grads.values())),
            }
        self._write_back()
        return {**info, **self.values()}

    def values(self) -> dict[str, float]:
        """The current hyperparameters: ``{"lr": ..., "weight_decay": ..., "momentum": ...}``
        for the tuned ones; per-layer decays as ``"weight_decay/<layer>"``."""
        out: dict[str, float] = {}
        for name, raw in self.raw.items():
            value = _decode(name, raw.detach())
            if name == "weight_decay" and self.per_layer_decay:
                for layer, v in zip(self.layers, value.tolist()):
                    out[f"weight_decay/{layer}"] = v
            else:
                out[name] = float(value[0])
        return out

    def evaluate(self, batch: Batch) -> float:
        """The loss of the current weights on ``batch`` (model in eval mode, no gradients)."""
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return float(self._train_loss(self.params, *batch))
        finally:
            self.model.train(training)

    def state_dict(self) -> dict[str, Any]:
        """Weights, momentum buffers, hyperparameters and Adam's state: a checkpoint."""
        return copy.deepcopy(
            {
                "params": self.params,
                "momentum_buffers": self.momentum_buffers,
                "raw": {n: t.detach() for n, t in self.raw.items()},
                "optimizer": self.optimizer.state_dict() if self.optimizer else None,
                "steps": self.steps,
                "hyper_steps": self.hyper_steps,
            }
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.params = {n: t.clone() for n, t in state["params"].items()}
        self.momentum_buffers = {n: t.clone() for n, t in state["momentum_buffers"].items()}
        with torch.no_grad():
            for n, t in self.raw.items():
                t.copy_(state["raw"][n])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.hyper_steps = state["steps"], state["hyper_steps"]
        self._write_back()

    # -- internals ------------------------------------------------------------------------------

    def _clamp(self) -> None:
        with torch.no_grad():
            for name, t in self.raw.items():
                low, high = self.bounds[name]
                lo = _encode(name, max(low, 1e-12)) if not (name == "momentum" and low <= 0) else -30.0
                hi = _encode(name, high) if not (name == "momentum" and high >= 1) else 30.0
                t.clamp_(lo, hi)

    def _write_back(self) -> None:
        with torch.no_grad():
            for n, p in self.model.named_parameters():
                if n in self.params:
                    p.copy_(self.params[n])
