"""Balanced multi-task losses: weights that give every loss term of a stage a comparable gradient.

BodyNet's paper chose its fixed weights (segm 1e7, 2D 1e3, 3D 1e6, voxels 10, FV 1, SV 1) so that the
terms' gradients have similar scales. Here that intent is measured instead of hand-set: at a stage's
start, the gradient norm of each term with respect to the parameters the stage trains is averaged over a
few batches, and weight_k ∝ ratio_k / norm_k (normalised to sum 1), so the weighted norms are equal (or in
the given ratios). The weights are fixed for the rest of the stage and stored in its resume state.
"""

from __future__ import annotations

import math

import torch

from bodynet_cli.errors import BodyNetError


def term_gradient_norms(losses: dict[str, torch.Tensor], params: list[torch.Tensor]) -> dict[str, float]:
    """‖∂ loss_k / ∂ params‖₂ (over all parameters together) of each scalar term; the graph is kept."""
    norms = {}
    for k, loss in losses.items():
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        norms[k] = math.sqrt(sum(float(g.double().square().sum()) for g in grads if g is not None))
    return norms


def balanced_weights(norms: dict[str, float], ratios: dict[str, float] | None = None) -> dict[str, float]:
    """Weights w_k ∝ ratio_k / norm_k, summing to 1, so that w_k · norm_k ∝ ratio_k (equal by default)."""
    bad = [k for k, v in norms.items() if not (math.isfinite(v) and v > 0)]
    if bad:
        raise BodyNetError(f"loss balancing: the gradient of {', '.join(bad)} is zero or not finite at this "
                           "stage's start; train it with --no-balance-losses (the paper's fixed weights)")
    raw = {k: (1.0 if ratios is None else ratios[k]) / v for k, v in norms.items()}
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def measure_balanced_weights(model, dataset, terms: list[str], losses, batch_size: int, batches: int, device,
                             ctx) -> dict[str, float]:  # fmt: skip
    """The balanced weights of ``terms``, measured on ``batches`` training batches of ``dataset`` (a fixed draw,
    averaged over processes). ``losses(batch, weights)`` runs the model and returns its ``LossBreakdown``.
    The model's state (BN statistics included) is restored afterwards."""
    from bodynet_cli.data.dataset import collate
    from bodynet_cli.pipelines.train.sampler import StepBatchSampler

    if len(terms) == 1:
        return {terms[0]: 1.0}
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    sampler = StepBatchSampler(len(dataset), batch_size, dataset.seed ^ 0xBA1A, 0, batches, ctx.rank, ctx.world_size)
    sums = dict.fromkeys(terms, 0.0)
    n = 0
    for keys in sampler:
        breakdown = losses(collate([dataset[k] for k in keys]).to(device), dict.fromkeys(terms, 1.0))
        for k, v in term_gradient_norms(breakdown.terms, params).items():
            sums[k] += v
        n += 1
    model.load_state_dict(saved)
    norms = torch.tensor([sums[k] / n for k in terms], dtype=torch.float64)
    if ctx.distributed:
        import torch.distributed as dist

        norms = norms.to(device)
        dist.all_reduce(norms)
        norms = norms.cpu() / ctx.world_size
    return balanced_weights(dict(zip(terms, norms.tolist(), strict=True)))
