"""The staged, batched fit of an SMPL-format body model to voxel surfaces and 3D joints.

Stage 1 fits global orientation, translation, pose (and the free scale without a camera) to the 16
joints (Geman-McClure) with the pose prior, from a torso-frame initialisation (Kabsch of the rest
torso onto the target's). Stage 2 adds the shape and fits to the surface with a robust
bidirectional chamfer distance plus the joint term and the shape and pose priors. With
``flip_hypothesis`` every body is tried twice, with its joints' left and right as given and swapped
(a front/back confusion of the prediction), through stage 1 and the first stage-2 iterations; each
body then keeps one. Every body stops early on its own once its loss stalls; the batch ends when
all have stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from bodynet_cli.body.conventions import JOINT_FLIP, PELVIS, SMPL_TO_BODYNET
from bodynet_cli.fitting.chamfer import chamfer, nearest_neighbours
from bodynet_cli.fitting.robust import geman_mcclure
from bodynet_cli.fitting.targets import FitTarget
from bodynet_cli.io.fitted_body import FittedBody

# Torso joints (hips, pelvis, thorax, neck, shoulders) define the initial orientation.
TORSO = np.array([2, 3, 6, 7, 8, 12, 13], dtype=np.int64)
_SUBSETS: dict[tuple, np.ndarray] = {}  # (model sha256, V, n) -> chamfer vertex subset


@dataclass(frozen=True)
class FitOptions:
    """Settings of ``fit_bodies``. Distances are metres; loss terms are metres² times their weight.

    joint_iters, surface_iters: most iterations of stage 1 and stage 2.
    n_model_points: model vertices in the chamfer (a fixed farthest-point subset; all if fewer).
    refresh_every: nearest neighbours are searched every this many iterations (reused between).
    nn_method: the search, "auto", "kdtree" or "cdist" (see ``chamfer.nearest_neighbours``).
    joint_sigma_init: Geman-McClure σ of the joints in stage 1: wide, so limbs far from the rest pose
        still feel their joints (the penalty's gradient vanishes beyond a few σ).
    joint_sigma, surface_sigma: σ of the joint residuals and the surface distances in stage 2.
    w_*: weights of joints, target→model and model→target chamfer, pose prior, shape prior in
        stage 2 (stage 1's joint term has weight 1). With a camera the joints weigh less than the
        surface, which then overrules noisy predicted joints; without one (``w_joints_grid``) the
        joints' metric depths are the only cue to the scale and weigh more.
    lr: Adam step (radians, metres, shape units per iteration, roughly).
    tol, patience, warmup: after ``warmup`` iterations, a body stops when its loss fell by less than
        ``tol`` (relative) over ``patience`` iterations.
    flip_hypothesis: also try each body with left and right swapped (front/back ambiguity); the
        hypotheses are compared after ``decide_after`` surface iterations and the swap is kept only
        when its loss is lower by more than ``flip_margin`` (relative).
    """

    joint_iters: int = 80
    surface_iters: int = 150
    n_model_points: int = 2000
    refresh_every: int = 1
    nn_method: str = "auto"
    joint_sigma_init: float = 0.5
    joint_sigma: float = 0.25
    surface_sigma: float = 0.05
    w_joints: float = 0.3
    w_joints_grid: float = 1.0
    w_target_to_model: float = 1.0
    w_model_to_target: float = 1.0
    w_pose: float = 2e-6
    w_shape: float = 1e-5
    lr: float = 0.02
    tol: float = 2e-3
    patience: int = 10
    warmup: int = 30
    decide_after: int = 20
    flip_margin: float = 0.4
    flip_hypothesis: bool = True


def farthest_point_indices(points: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` points of ``points`` (V, 3) spread evenly by farthest-point sampling (deterministic)."""
    V = len(points)
    if n >= V:
        return np.arange(V)
    idx = np.empty(n, dtype=np.int64)
    idx[0] = int(np.argmin(points[:, 1]))  # a deterministic start: the lowest point
    dist = np.sum((points - points[idx[0]]) ** 2, axis=1)
    for i in range(1, n):
        idx[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.sum((points - points[idx[i]]) ** 2, axis=1))
    return np.sort(idx)


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotation R (3, 3) minimising Σ|R·(src − mean) − (dst − mean)|² for src, dst (N, 3)."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    U, _, Vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


def _rotvec(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_rotvec()


@dataclass
class _Batch:
    """Targets of a batch as tensors: points (B, N, 3), point weights (B, N) (0 = padding),
    joints (B, 16, 3), centre (B, 3) subtracted from both, free (B,) bool: scale is free,
    scale0 (B,) metres per target unit (1 with a camera)."""

    points: torch.Tensor
    point_weights: torch.Tensor
    joints: torch.Tensor
    centre: torch.Tensor
    free: torch.Tensor
    scale0: torch.Tensor


def _stack_targets(targets: list[FitTarget], device, dtype) -> _Batch:
    N = max(len(t.points) for t in targets)
    pts = np.zeros((len(targets), N, 3))
    w = np.zeros((len(targets), N))
    joints = np.zeros((len(targets), 16, 3))
    centre = np.zeros((len(targets), 3))
    for i, t in enumerate(targets):
        c = t.joints[PELVIS] if t.frame == "camera" else np.zeros(3)
        n = len(t.points)
        pts[i, :n], pts[i, n:] = t.points - c, t.points[0] - c  # padding repeats a point at weight 0
        w[i, :n] = 1.0
        joints[i], centre[i] = t.joints - c, c
    free = np.array([t.frame == "grid" for t in targets])
    s0 = np.array([t.voxel_size if t.frame == "grid" else 1.0 for t in targets])

    def T(a, dt=dtype):
        return torch.as_tensor(a, dtype=dt, device=device)

    return _Batch(T(pts), T(w), T(joints), T(centre), T(free, torch.bool), T(s0))


class _Optimiser:
    """Adam over per-body parameter rows with per-body early stopping.

    A body whose loss stalls is frozen: its rows are put back after every step, while the rest of
    the batch goes on; ``run`` returns when every body has stopped or the iterations are spent.
    params: leaf tensors whose first dimension is the body; params[3] is the log scale, only free
    where ``free`` (B,) is true.
    """

    def __init__(self, params: list[torch.Tensor], o: FitOptions, free: torch.Tensor) -> None:
        self.params, self.o = params, o
        self.free = free.to(params[0].dtype)
        self.opt = torch.optim.Adam(params, lr=o.lr)
        B = params[0].shape[0]
        self.done = torch.zeros(B, dtype=torch.bool, device=params[0].device)
        self.frozen = [p.detach().clone() for p in params]
        self.history: list[torch.Tensor] = []
        self.iterations = torch.zeros(B, dtype=torch.long, device=params[0].device)

    def run(self, loss_fn: Callable[[], torch.Tensor], iters: int, tick: Callable[[int], None]) -> torch.Tensor:
        """Up to ``iters`` steps of ``loss_fn() -> (B,)``; returns the last per-body loss (no gradient)."""
        loss = None
        for _ in range(iters):
            if bool(self.done.all()):
                break
            self.opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.sum().backward()
            self.params[3].grad *= self.free  # the scale is known with a camera
            self.opt.step()
            self._restore()
            self._update(loss.detach())
            tick(1)
        if loss is None:
            with torch.no_grad():
                loss = loss_fn()
        return loss.detach()

    def _update(self, loss: torch.Tensor) -> None:
        o = self.o
        self.iterations += (~self.done).long()
        self.history.append(loss)
        if len(self.history) <= o.patience:
            return
        old = self.history.pop(0)
        if int(self.iterations.max()) < o.warmup:  # Adam's first steps may raise the loss
            return
        newly = ((old - loss) <= o.tol * old.abs().clamp_min(1e-12)) & ~self.done
        if bool(newly.any()):
            for p, f in zip(self.params, self.frozen, strict=True):
                f[newly] = p.detach()[newly]
            self.done |= newly

    def _restore(self) -> None:
        if bool(self.done.any()):
            with torch.no_grad():
                for p, f in zip(self.params, self.frozen, strict=True):
                    p[self.done] = f[self.done]

    def select(self, rows: torch.Tensor) -> list[torch.Tensor]:
        """Keep only ``rows`` (K,) of every parameter, the Adam state and the stopping state; returns
        the new parameter leaves (the optimiser continues on them)."""
        new = [p.detach()[rows].clone().requires_grad_(True) for p in self.params]
        opt = torch.optim.Adam(new, lr=self.o.lr)
        for p_old, p_new in zip(self.params, new, strict=True):
            st = self.opt.state.get(p_old)
            if st:
                opt.state[p_new] = {k: (v[rows].clone() if torch.is_tensor(v) and v.ndim else v) for k, v in st.items()}
        self.params, self.opt = new, opt
        self.free, self.done, self.iterations = self.free[rows], self.done[rows], self.iterations[rows]
        self.frozen = [f[rows] for f in self.frozen]
        self.history = [h[rows] for h in self.history]
        return new


def _joint_term(joints16: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean Geman-McClure joint residual: joints16, target (B, 16, 3) -> (B,)."""
    return geman_mcclure((joints16 - target).pow(2).sum(-1), sigma).mean(-1)


def _target_scale(log_s: torch.Tensor, batch: _Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Metres per target unit (B,) for the points, and (B, 1, 3) for the joints (depths are metres)."""
    s = batch.scale0 * torch.exp(log_s)
    one = torch.ones_like(s)
    js = torch.stack([s, s, torch.where(batch.free, one, s)], dim=-1)[:, None, :]
    return s, js


def fit_bodies(
    model,
    targets: list[FitTarget],
    options: FitOptions = FitOptions(),
    pose_prior: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[FittedBody]:
    """Fit ``model`` (a ``BodyModel``, on the device to use) to every target of a batch.

    targets: B ``FitTarget``s (they may mix frames and point counts).
    pose_prior: body_pose (B, 69) -> (B,) penalty; default ``bodynet_cli.body.poses.pose_prior``.
    progress: called with the number of iterations just done (for a progress bar).
    Returns B ``FittedBody`` records: vertices and joints in camera metres (frame "camera") or metres
    around the grid centre at the estimated scale (frame "grid"); ``scale`` is 1 and the voxel size
    (given or estimated) is ``meta["voxel_size_m"]``.
    """
    if pose_prior is None:
        from bodynet_cli.body.poses import pose_prior
    o = options
    dev, dt = model.v_template.device, model.v_template.dtype
    B = len(targets)
    batch = _stack_targets(targets, dev, dt)
    nb = model.num_betas
    tick = progress or (lambda n: None)

    # Initial orientation: the torso of the mean rest body onto the target torso.
    rest = model.rest_joints(torch.zeros(1, nb, dtype=dt, device=dev))[0]
    rest16 = rest[SMPL_TO_BODYNET].cpu().double().numpy()
    root = rest[0].cpu().double().numpy()
    H = 2 if o.flip_hypothesis else 1
    target_m = (batch.joints * _target_scale(torch.zeros(B, dtype=dt, device=dev), batch)[1]).cpu().double().numpy()
    go0, tr0, jt = np.zeros((H * B, 3)), np.zeros((H * B, 3)), np.zeros((H * B, 16, 3))
    for h in range(H):
        for b in range(B):
            j = target_m[b][JOINT_FLIP] if h else target_m[b]
            R = kabsch(rest16[TORSO], j[TORSO])
            go0[h * B + b] = _rotvec(R)
            # The global rotation turns about the root joint: the pelvis lands at R·0 + root + transl.
            tr0[h * B + b] = j[TORSO].mean(0) - (R @ (rest16[TORSO] - root).T).T.mean(0) - root
            jt[h * B + b] = batch.joints[b].cpu().numpy()[JOINT_FLIP] if h else batch.joints[b].cpu().numpy()

    def P(a):
        return torch.as_tensor(a, dtype=dt, device=dev).clone().requires_grad_(True)

    hb = torch.arange(H * B, device=dev) % B  # body of each hypothesis
    hbatch = _Batch(batch.points[hb], batch.point_weights[hb], torch.as_tensor(jt, dtype=dt, device=dev),
                    batch.centre[hb], batch.free[hb], batch.scale0[hb])
    # go, bp, tr, log_s, betas: global orientation, body pose, translation, log scale, shape.
    params = [P(go0), P(np.zeros((H * B, 69))), P(tr0), P(np.zeros(H * B)), P(np.zeros((H * B, nb)))]

    # Stage 1: joints only (shape fixed at the mean).
    def joint_loss(go, bp, tr, log_s, betas, bt: _Batch):
        joints = model(betas.detach(), go, bp, joints_only=True, check=False).joints
        _, js = _target_scale(log_s, bt)
        j16 = joints[:, SMPL_TO_BODYNET] + tr[:, None]
        return _joint_term(j16, bt.joints * js, o.joint_sigma_init) + o.w_pose * pose_prior(bp)

    stage1 = _Optimiser(params[:4], o, hbatch.free)
    stage1.run(lambda: joint_loss(*params, hbatch), o.joint_iters, tick)

    # Model vertices used by the chamfer: evenly spread over the rest body (computed once per model).
    key = (model.data.sha256, model.num_vertices, o.n_model_points)
    if key not in _SUBSETS:
        _SUBSETS[key] = farthest_point_indices(model.data.v_template, o.n_model_points)
    sub = torch.as_tensor(_SUBSETS[key], device=dev)

    def surface_terms(go, bp, tr, log_s, betas, bt: _Batch, nn=None):
        posed = model(betas, go, bp, vertex_index=sub, check=False)
        joints, verts = posed.joints, posed.vertices
        s, js = _target_scale(log_s, bt)
        verts = verts + tr[:, None]
        pts = bt.points * s[:, None, None]
        if nn is None:
            nn = (nearest_neighbours(pts, verts, o.nn_method), nearest_neighbours(verts, pts, o.nn_method))
        ch = chamfer(pts, verts, bt.point_weights, None, robust=lambda q: geman_mcclure(q, o.surface_sigma),
                     x_nn=nn[0], y_nn=nn[1])
        jterm = _joint_term(joints[:, SMPL_TO_BODYNET] + tr[:, None], bt.joints * js, o.joint_sigma)
        w_joints = torch.where(bt.free, o.w_joints_grid, o.w_joints)
        terms = {
            "target_to_model": o.w_target_to_model * ch.x_to_y,
            "model_to_target": o.w_model_to_target * ch.y_to_x,
            "joints": w_joints * jterm,
            "pose_prior": o.w_pose * pose_prior(bp),
            "shape_prior": o.w_shape * betas.pow(2).mean(-1),
        }
        return terms, nn

    cache: dict = {}

    def surface_loss(bt: _Batch):
        it = cache.get("it", 0)
        refresh = it % o.refresh_every == 0 or cache.get("n") != params[0].shape[0]
        terms, nn = surface_terms(*params, bt, None if refresh else cache["nn"])
        cache.update(it=it + 1, nn=nn, n=params[0].shape[0])
        return sum(terms.values())

    # Stage 2: surface, joints, priors; shape free. Every hypothesis runs the first iterations, then
    # each body keeps its hypothesis of lower loss (a fair comparison: same iterations, all terms).
    stage2 = _Optimiser(params, o, hbatch.free)
    first = o.surface_iters if H == 1 else min(o.decide_after, o.surface_iters)
    loss = stage2.run(lambda: surface_loss(hbatch), first, tick)
    pick = torch.zeros(B, dtype=torch.long, device=dev)
    bt = hbatch
    if H > 1:
        per = loss.reshape(H, B)
        # The joints' labels as given win unless the swap fits clearly better.
        pick = (per[1] < (1 - o.flip_margin) * per[0]).long()
        chosen = pick * B + torch.arange(B, device=dev)
        bt = _Batch(*(getattr(hbatch, f)[chosen] for f in ("points", "point_weights", "joints", "centre", "free",
                                                          "scale0")))
        params = stage2.select(chosen)
        stage2.run(lambda: surface_loss(bt), o.surface_iters - first, tick)
    go, bp, tr, log_s, betas = params

    with torch.no_grad():
        terms, _ = surface_terms(*params, bt)
        s, _ = _target_scale(log_s, bt)
        out = model(betas, go, bp, tr + bt.centre, check=False)
    iterations = stage1.iterations[: B] if H == 1 else stage1.iterations[chosen]
    iterations = iterations + stage2.iterations
    results = []
    for b in range(B):
        t = targets[b]
        results.append(FittedBody(
            betas=betas[b].detach().cpu().numpy(), global_orient=go[b].detach().cpu().numpy(),
            body_pose=bp[b].detach().cpu().numpy(), transl=(tr[b] + bt.centre[b]).detach().cpu().numpy(),
            scale=1.0, joints=out.joints[b].cpu().numpy(), vertices=out.vertices[b].cpu().numpy(),
            model=model.data.model_id, loss={k: float(v[b]) for k, v in terms.items()},
            meta={"frame": t.frame, "voxel_size_m": float(s[b]) if t.frame == "grid" else t.voxel_size,
                  "flipped": bool(pick[b]), "iterations": int(iterations[b])},
        ))
    return results
