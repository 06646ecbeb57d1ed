"""Stein variational directions and the kernel Stein discrepancy, as pure functions.

The SVGD direction (eq. (5) of Liu & Wang 2017; eqs. (5)-(6) of Pu et al. 2017) for
particles x_1..x_n with scores s_j = grad log p(x_j) is

    phi(x_i) = sum_j w_j [ k(x_j, x_i) s_j + grad_{x_j} k(x_j, x_i) ],

with w_j = 1/n. Importance-weighted SVGD (eq. (12) of Pu et al. 2017) uses
normalised importance weights w_j instead (see ``log_weights``). For a radial kernel
k = kappa(||x - y||^2) the repulsive term is sum_j w_j 2 kappa'(r_ij) (x_j - x_i), so
with W_ij = k(x_i, x_j) w_j the whole direction is two matrix products:

    phi = W @ S + 2 c (W @ X - X * W.sum(1))          (RBF: kappa' = c kappa, c = -1/h)

For large n the same sums are streamed over tiles of the n x n kernel matrix
(``block_size``), so no n x n array exists in the forward or the backward pass. K is
symmetric (the weights go into the right-hand side), so each pair of tiles (i, j),
i <= j, is computed once and serves both its row block (K_ij @ rhs_j) and its column
block (K_ij^T @ rhs_i); the backward pass is a symmetric tiled sum of the same kind.
Derivations and the blocked schedule are written up in docs/stein_math.md.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np

from stein_jax import kernels as kernels_lib

Array = jax.Array
PyTree = Any

# Dense form memory ceiling: above this the kernel matrices are tiled instead.
DEFAULT_MEMORY_BUDGET_BYTES = 512 * 2**20
# Tile of the blocked forms, tuned on a 2-core CPU (benchmarks/svgd_scaling.py). The symmetric
# forms use square tiles; at n = 100,000, d = 16 on the shared machine 1024 x 1024 (4 MiB) took
# 10-12 s of CPU time like 512 x 512 but less wall time (15.1 s against 17.1 s at load 5: a
# quarter as many pairs, so fewer thread hand-offs between the tile's ops), and 2048 x 2048 was
# 7-15 % slower. The earlier two-sided form was tuned at (2048, 512); benchmarks/svgd_scaling.py
# runs it at that tile. A GPU would want far larger tiles (each pair is a handful of kernel
# launches): pass block_size there.
DEFAULT_BLOCK = (1024, 1024)
NORMALIZATIONS = ("mean", "row_sum")  # of the SVGD direction: eq. (5), or the authors' SteinGAN code
METRICS = ("isotropic", "diagonal")  # the kernel's metric: ||x - y||^2, or per-coordinate whitened (sec. 13)


# --------------------------------------------------------------------------- checks


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def _check_finite(name: str, x) -> None:
  """Raises on non-finite entries of a concrete array; traced arrays pass (see NaN policy).

  The test is on the result of isfinite, not on x: inside jit even a closed-over
  concrete array yields a tracer once an op touches it.
  """
  if not _is_concrete(x):
    return
  ok = jnp.all(jnp.isfinite(x))
  if not _is_concrete(ok):
    return
  if not bool(ok):
    bad = int(jnp.sum(~jnp.isfinite(x)))
    raise ValueError(
      f"{name} has {bad} non-finite entries (NaN or inf). Fix the target's score "
      "function or the step size; inside jit such values propagate as NaN instead."
    )


def _prepare_pair(particles, scores) -> Tuple[Array, Array]:
  """Validated floating [..., n, d] arrays (particles' dtype), finite when concrete."""
  x, s = jnp.asarray(particles), jnp.asarray(scores)
  _check_pair(x, s)
  if not jnp.issubdtype(x.dtype, jnp.floating):
    x = x.astype(jnp.float32)
  s = s.astype(x.dtype)
  _check_finite("particles", x)
  _check_finite("scores", s)
  return x, s


def _repulsion_scale(repulsion) -> float:
  """The multiplier of the grad-k term: True -> 1.0, False -> 0.0, a finite number as it is."""
  if isinstance(repulsion, (bool, np.bool_)):
    return 1.0 if repulsion else 0.0
  try:
    value = float(repulsion)
  except (TypeError, ValueError):
    raise ValueError(
      f"repulsion must be a bool or a finite number (a Python value: it is static under jit); " f"got {repulsion!r}."
    ) from None
  if not np.isfinite(value):
    raise ValueError(f"repulsion must be finite; got {repulsion!r}.")
  return value


def _split_bandwidth(bandwidth):
  """(traced fixed h or None, static rule or None): fixed values are not jit-static."""
  if isinstance(bandwidth, str) or callable(bandwidth):
    return None, bandwidth
  return jnp.asarray(bandwidth), None


def _check_pair(particles: Array, scores: Array) -> None:
  if particles.ndim < 2:
    raise ValueError(
      f"particles must have shape [..., n, d] (rank >= 2); got shape {particles.shape}. "
      "For one-dimensional particles use shape [n, 1]."
    )
  if scores.shape != particles.shape:
    raise ValueError(
      f"scores shape {scores.shape} does not match particles shape " f"{particles.shape}; both must be [..., n, d]."
    )
  if particles.shape[-2] == 0:
    raise ValueError("particles has n = 0 particles.")


# -------------------------------------------------------------------------- weights


def normalized_weights(log_weights: Array, groups: int = 1) -> Array:
  """Self-normalised importance weights from log-weights [n], summing to 1.

  With ``groups`` = G the n particles form G consecutive groups of n / G samples,
  each normalised on its own and given total mass 1 / G (the M groups of k samples
  of eq. (12) of Pu et al. 2017). Normalisation is a softmax, so log-weights of any
  magnitude are safe; a group whose log-weights are all -inf has no defined
  weights and yields NaN.
  """
  n = log_weights.shape[-1]
  if n % groups:
    raise ValueError(f"weight_groups={groups} does not divide the number of particles n={n}.")
  lw = log_weights.reshape(log_weights.shape[:-1] + (groups, n // groups))
  w = jax.nn.softmax(lw, axis=-1) / groups
  return w.reshape(log_weights.shape)


# -------------------------------------------------------------------- dense kernels


def _rhs(x: Array, s: Array, repulsion: float) -> Array:
  """Right-hand side [n, 2d+1] so that K @ rhs gives K@S, K@X and K.sum(1) at once."""
  if not repulsion:
    return s
  return jnp.concatenate([s, x, jnp.ones(x.shape[:-1] + (1,), x.dtype)], axis=-1)


def _combine(out: Array, x: Array, d: int, c, repulsion: float) -> Array:
  """phi from out = K @ [S, X, 1]: K@S + 2c (K@X - X * K.sum(1)), the second term scaled by ``repulsion``."""
  if not repulsion:
    return out
  drive, kx, ksum = out[..., :d], out[..., d : 2 * d], out[..., 2 * d :]
  return drive + (2.0 * repulsion) * c * (kx - x * ksum)


def _dense_direction(x, s, w, h, kernel: kernels_lib.RadialKernel, repulsion: float, precision) -> Array:
  """One particle set, x, s [n, d], w [n] (sums to 1). Holds n x n arrays."""
  d = x.shape[-1]
  x = x - jnp.mean(x, axis=0)  # distances and phi are translation invariant
  r = kernels_lib.pairwise_sq_dists(x, x)
  kmat = kernel.profile(r, h) * w[None, :]
  if kernel.dlog_profile is not None:
    out = jnp.matmul(kmat, _rhs(x, s, repulsion), precision=precision)
    return _combine(out, x, d, kernel.dlog_profile(h), repulsion)
  drive = jnp.matmul(kmat, s, precision=precision)
  if not repulsion:
    return drive
  dmat = kernel.dprofile(r, h) * w[None, :]
  dx = jnp.matmul(dmat, x, precision=precision)
  return drive + (2.0 * repulsion) * (dx - x * jnp.sum(dmat, axis=1, keepdims=True))


# ------------------------------------------------------------------ blocked kernels


def _pad_rows(a: Array, multiple: int) -> Array:
  pad = (-a.shape[0]) % multiple
  if pad == 0:
    return a
  return jnp.concatenate([a, jnp.zeros((pad,) + a.shape[1:], a.dtype)], axis=0)


def _augmented(x: Array) -> Tuple[Array, Array]:
  """Rows [x, |x|^2, 1] and columns [2 x, -1, -|x|^2], [n, d + 2] each: -r_ij = rows_i . cols_j.

  The distances of a tile then come straight out of one matmul, with no elementwise
  broadcast pass over the tile (docs/stein_math.md sec. 4).
  """
  sq = jnp.sum(x * x, axis=-1, keepdims=True)
  rows = jnp.concatenate([x, sq, jnp.ones_like(sq)], axis=-1)
  cols = jnp.concatenate([2.0 * x, -jnp.ones_like(sq), -sq], axis=-1)
  return rows, cols


def _tiled_kernel_product(x: Array, rhs: Array, h, profile: Callable, block: Tuple[int, int], precision) -> Array:
  """sum_j profile(||x_i - x_j||^2, h) rhs_j for all i, tile by tile: the two-sided form.

  x [n, d], rhs [n, k] (zero rows contribute nothing). Returns [n, k]. Every tile
  of the n x n matrix is computed for its row block, so each off-diagonal tile (and
  its profile) is computed twice; :func:`_symmetric_kernel_product` computes it once.
  Kept as the reference the benchmarks compare against (benchmarks/svgd_scaling.py)
  and because it needs no symmetry. Every tile body is rematerialised
  (jax.checkpoint), so reverse-mode differentiation stores only [rows, k] carries and
  never a tile-sized, let alone n x n, residual.
  """
  n, d = x.shape
  br, bc = min(block[0], n), min(block[1], n)
  rows_aug, cols_aug = _augmented(x)
  xr = _pad_rows(rows_aug, br).reshape(-1, br, d + 2)
  xc = _pad_rows(cols_aug, bc).reshape(-1, bc, d + 2)
  rc = _pad_rows(rhs, bc).reshape(-1, bc, rhs.shape[-1])

  @jax.checkpoint
  def col_step(acc, cols):
    xb, rb = cols
    r = jnp.maximum(-jnp.matmul(acc[1], xb.T, precision=jax.lax.Precision.HIGHEST), 0.0)
    out = acc[0] + jnp.matmul(profile(r, h), rb, precision=precision)
    return (out, acc[1]), None

  @jax.checkpoint
  def row_block(rows):
    init = (jnp.zeros((rows.shape[0], rhs.shape[-1]), rhs.dtype), rows)
    (out, _), _ = jax.lax.scan(col_step, init, (xc, rc))
    return out

  out = jax.lax.map(row_block, xr)
  return out.reshape(-1, rhs.shape[-1])[:n]


def _square_block(block: Tuple[int, int], n: int) -> int:
  """Side b of the square tiles of the symmetric forms: the area of the requested (rows, cols) tile, at most n."""
  return max(1, min(int(np.sqrt(block[0] * block[1])), n))


def _take_block(tree: PyTree, i) -> PyTree:
  return jax.tree_util.tree_map(lambda a: jax.lax.dynamic_index_in_dim(a, i, keepdims=False), tree)


def _add_block(acc: PyTree, part: PyTree, i) -> PyTree:
  """acc[i] += part for every leaf, in place (a dynamic-update-slice in the loop carry, never a scatter)."""

  def one(a, p):
    cur = jax.lax.dynamic_index_in_dim(a, i, keepdims=False)
    return jax.lax.dynamic_update_index_in_dim(a, cur + p, i, 0)

  return jax.tree_util.tree_map(one, acc, part)


def _set_block(acc: PyTree, part: PyTree, i) -> PyTree:
  return jax.tree_util.tree_map(lambda a, p: jax.lax.dynamic_update_index_in_dim(a, p, i, 0), acc, part)


def _pair_scan(tile: Callable, blocks: PyTree, params: PyTree):
  """One pass over the nb (nb + 1) / 2 unordered pairs of blocks i <= j, row block by row block.

  blocks: pytree of [nb, b, ...] per-particle operands cut into nb blocks of b particles.
  ``tile(a_i, a_j, params, offdiag)`` returns (row_part, col_part, total): pytrees
  added to block i of a row accumulator, to block j of a column accumulator, and to a
  running total. ``offdiag`` is 1.0 for i < j and 0.0 on the diagonal (where a_j is
  a_i): a tile multiplies by it what only an off-diagonal pair contributes, so the
  diagonal needs no loop of its own (one compiled body; the diagonal's wasted product
  is 2 / (nb + 1) of the work). With one block (nb = 1) there is no loop and offdiag is
  the Python float 0.0, so a tile can skip those terms outright. Two accumulators let a tile hand its column block a
  result in another layout: a kernel tile P gives P @ rhs_j to row block i and
  rhs_i^T @ P, [k, b], to column block j, because XLA's CPU matmul of P^T is several
  times slower than rhs^T @ P. The loop is nested, j = i .. nb - 1 inside i, so block
  i's row sum is carried in registers and cache and written once (measured 5-10 %
  faster on a 2-core CPU than one flat scan over a static list of pairs). Returns
  (rows [nb, ...], cols [nb, ...], total), updated in place: the memory is that of the
  operands, the accumulators and one tile. Not differentiable itself (the callers'
  custom VJPs are).
  """
  leaves = jax.tree_util.tree_leaves(blocks)
  nb, dtype = leaves[0].shape[0], leaves[0].dtype
  first = _take_block(blocks, 0)
  if nb == 1:  # one tile, no loop; a static offdiag = 0 lets the tile skip what only other pairs need
    row_i, col_i, total = tile(first, first, params, 0.0)
    expand = lambda t: jax.tree_util.tree_map(lambda a: a[None], t)
    return expand(row_i), expand(col_i), total
  row_shape, col_shape, total_shape = jax.eval_shape(tile, first, first, params, jnp.zeros((), dtype))
  zeros = lambda lead: lambda sd: jnp.zeros(lead + sd.shape, sd.dtype)
  rows = jax.tree_util.tree_map(zeros((nb,)), row_shape)
  cols = jax.tree_util.tree_map(zeros((nb,)), col_shape)
  total = jax.tree_util.tree_map(zeros(()), total_shape)

  def row_block(i, carry):
    rows, cols, total = carry
    a_i = _take_block(blocks, i)

    def pair(j, inner):
      row_i, cols, total = inner
      part_i, part_j, t = tile(a_i, _take_block(blocks, j), params, (j != i).astype(dtype))
      add = jax.tree_util.tree_map
      return add(jnp.add, row_i, part_i), _add_block(cols, part_j, j), add(jnp.add, total, t)

    row0 = jax.tree_util.tree_map(zeros(()), row_shape)
    row_i, cols, total = jax.lax.fori_loop(i, nb, pair, (row0, cols, total))
    return _set_block(rows, row_i, i), cols, total

  return jax.lax.fori_loop(0, nb, row_block, (rows, cols, total))


# Autodiff through the pair scan would store its [nb, b, k] carry once per pair, O(n^3 / b^2) memory.
# The custom VJPs below run their backward pass as a second pair scan that recomputes each tile, so
# reverse mode never holds more than the forward pass does: O(n (operand width + k) + b^2). Forward mode
# (jvp) is not defined for a custom VJP; the dense forms support it.


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _symmetric_pair_total(tile: Callable, blocks: PyTree, params: PyTree) -> PyTree:
  """sum over unordered block pairs i <= j of ``tile(a_i, a_j, params, offdiag)`` (a pytree of arrays).

  The caller's tile weights an off-diagonal pair by the ordered pairs it stands for
  (1 + offdiag for a symmetric pairwise sum). Differentiable in blocks and params: the
  backward pass is one pair scan of each pair's VJP (on the diagonal a_i and a_j are
  the same block, so the two cotangents add up there, as they should).
  """
  return _pair_scan(lambda a_i, a_j, p, offdiag: ((), (), tile(a_i, a_j, p, offdiag)), blocks, params)[2]


def _symmetric_pair_total_fwd(tile, blocks, params):
  return _symmetric_pair_total(tile, blocks, params), (blocks, params)


def _symmetric_pair_total_bwd(tile, res, g):
  blocks, params = res

  def vjp_tile(a_i, a_j, p, offdiag):
    _, vjp = jax.vjp(lambda ai, aj, p_: tile(ai, aj, p_, offdiag), a_i, a_j, p)
    return vjp(g)

  rows, cols, d_params = _pair_scan(vjp_tile, blocks, params)
  return jax.tree_util.tree_map(jnp.add, rows, cols), d_params


_symmetric_pair_total.defvjp(_symmetric_pair_total_fwd, _symmetric_pair_total_bwd)


def _maybe_offdiag(offdiag) -> bool:
  """False only for the static 0.0 of a single-tile pass (:func:`_pair_scan`): the terms it scales are then skipped."""
  return not (isinstance(offdiag, float) and offdiag == 0.0)


def _distances(rows_i: Array, cols_j: Array) -> Array:
  """Clipped squared distances [b, b] of a tile from the augmented rows and columns (:func:`_augmented`)."""
  return jnp.maximum(-jnp.matmul(rows_i, cols_j.T, precision=jax.lax.Precision.HIGHEST), 0.0)


def _split_columns(a: Array, widths: Tuple[int, ...], axis: int = -1):
  return jnp.split(a, tuple(np.cumsum(widths)[:-1]), axis=axis) if len(widths) > 1 else [a]


def _kernel_product_fwd_tile(profiles, widths, precision):
  """Forward tile of :func:`_kernel_product_blocks`: P_m @ rhs_m_j to row block i, rhs_m_i^T @ P_m to column block j."""

  def tile(a_i, a_j, h, offdiag):
    rows_i, _, rhs_i = a_i
    _, cols_j, rhs_j = a_j
    r = _distances(rows_i, cols_j)
    row, col = [], []
    for profile, p_i, p_j in zip(profiles, _split_columns(rhs_i, widths), _split_columns(rhs_j, widths)):
      kmat = profile(r, h)
      row.append(jnp.matmul(kmat, p_j, precision=precision))
      if _maybe_offdiag(offdiag):
        col.append(jnp.matmul(p_i.T * offdiag, kmat, precision=precision))
      else:
        col.append(jnp.zeros(p_i.shape[::-1], p_i.dtype))
    return jnp.concatenate(row, -1), jnp.concatenate(col, 0), ()

  return tile


def _kernel_product_bwd_tile(profiles, widths, precision):
  """Backward tile: the cotangents of (rows_aug, cols_aug, rhs, h) from g, itself a symmetric tiled sum.

  For a pair i < j with P = profile(r(rows_i, cols_j)): out_i += P rhs_j and
  out_j += P^T rhs_i, so d rhs_j += P^T g_i (as g_i^T @ P), d rhs_i += P g_j,
  dP = g_i rhs_j^T + rhs_i g_j^T (one matmul of [g_i, rhs_i] with [rhs_j, g_j]),
  then dr = dP * profile'(r) and d rows_i = -dr @ cols_j, d cols_j = -dr^T @ rows_i.
  On the diagonal (out_i += P rhs_i only) the terms of out_j are off (``offdiag`` = 0).
  """
  hi = jax.lax.Precision.HIGHEST

  def tile(a_i, a_j, h, offdiag):
    rows_i, _, rhs_i, g_i = a_i
    _, cols_j, rhs_j, g_j = a_j
    raw = -jnp.matmul(rows_i, cols_j.T, precision=hi)
    d_raw = jnp.zeros_like(raw)
    d_h = jnp.zeros_like(h)
    d_rhs_row, d_rhs_col = [], []
    parts = zip(
      profiles,
      _split_columns(rhs_i, widths),
      _split_columns(rhs_j, widths),
      _split_columns(g_i, widths),
      _split_columns(g_j, widths),
    )
    for profile, p_i, p_j, q_i, q_j in parts:
      kmat, vjp = jax.vjp(lambda t, hh, f=profile: f(jnp.maximum(t, 0.0), hh), raw, h)
      if _maybe_offdiag(offdiag):
        left = jnp.concatenate([q_i, p_i * offdiag], -1)
        d_kmat = jnp.matmul(left, jnp.concatenate([p_j, q_j], -1).T, precision=precision)
        d_rhs_row.append(jnp.matmul(kmat, q_j * offdiag, precision=precision))
      else:
        d_kmat = jnp.matmul(q_i, p_j.T, precision=precision)
        d_rhs_row.append(jnp.zeros_like(p_i))
      d_rhs_col.append(jnp.matmul(q_i.T, kmat, precision=precision))
      d_raw_m, d_h_m = vjp(d_kmat)
      d_raw, d_h = d_raw + d_raw_m, d_h + d_h_m
    d_rows_i = -jnp.matmul(d_raw, a_j[1], precision=hi)
    d_cols_j = -jnp.matmul(rows_i.T, d_raw, precision=hi)  # [d + 2, b], the column layout
    return (d_rows_i, jnp.concatenate(d_rhs_row, -1)), (d_cols_j, jnp.concatenate(d_rhs_col, 0)), d_h

  return tile


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _kernel_product_blocks(profiles, widths, precision, blocks, h) -> Array:
  """[nb, b, k] block sums sum_j P_m(r_ij) rhs_m_j, blocks = (rows_aug, cols_aug, rhs) cut into [nb, b, .]."""
  rows, cols, _ = _pair_scan(_kernel_product_fwd_tile(profiles, widths, precision), blocks, h)
  return rows + jnp.swapaxes(cols, -1, -2)


def _kernel_product_blocks_fwd(profiles, widths, precision, blocks, h):
  return _kernel_product_blocks(profiles, widths, precision, blocks, h), (blocks, h)


def _kernel_product_blocks_bwd(profiles, widths, precision, res, g):
  blocks, h = res
  tile = _kernel_product_bwd_tile(profiles, widths, precision)
  (d_rows, d_rhs_row), (d_cols, d_rhs_col), d_h = _pair_scan(tile, blocks + (g,), h)
  d_rhs = d_rhs_row + jnp.swapaxes(d_rhs_col, -1, -2)
  return (d_rows, jnp.swapaxes(d_cols, -1, -2), d_rhs), d_h


_kernel_product_blocks.defvjp(_kernel_product_blocks_fwd, _kernel_product_blocks_bwd)


def _symmetric_kernel_product(
  x: Array, rhs: Tuple[Array, ...], h, profiles: Tuple[Callable, ...], block: Tuple[int, int], precision
) -> Array:
  """sum_m sum_j profile_m(||x_i - x_j||^2, h) rhs_m[j] for all i, each tile of the symmetric K computed once.

  x [n, d]; rhs: one [n, k_m] array per profile (zero rows contribute nothing).
  Returns [n, sum_m k_m], the products side by side. K_ij = profile(r_ij) is
  symmetric whatever the rhs holds, so per-particle weights (importance weights,
  1/n) belong in the rhs rows, never in K: then every case of the SVGD direction,
  weighted or not, is a product with a symmetric K. Tiles are b x b with b from
  :func:`_square_block`; a tile pair (i, j), i < j, gives K_ij @ rhs_j to block i and
  K_ij^T @ rhs_i to block j, so the distances and the profiles of each off-diagonal
  tile are computed once instead of twice (the matmuls against the rhs are as many
  as before). Differentiable in x, rhs and h; the backward pass is a symmetric tiled
  sum of the same shape (:func:`_kernel_product_bwd_tile`), O(n) memory.
  """
  n, d = x.shape
  b = _square_block(block, n)
  rows_aug, cols_aug = _augmented(x)
  widths = tuple(int(r.shape[-1]) for r in rhs)
  rhs_all = jnp.concatenate(rhs, axis=-1) if len(rhs) > 1 else rhs[0]
  blocks = tuple(_pad_rows(a, b).reshape(-1, b, a.shape[-1]) for a in (rows_aug, cols_aug, rhs_all))
  out = _kernel_product_blocks(tuple(profiles), widths, precision, blocks, h)
  return out.reshape(-1, rhs_all.shape[-1])[:n]


def _blocked_direction(
  x,
  s,
  w,
  h,
  kernel: kernels_lib.RadialKernel,
  repulsion: float,
  block: Tuple[int, int],
  precision,
  symmetric: bool = True,
) -> Array:
  """Same as :func:`_dense_direction`, never holding more than one tile of K.

  The weights w multiply the rhs rows, not K, so the kernel matrix is symmetric in
  every case (weighted, importance-weighted, diagonal metric, any repulsion scale):
  ``symmetric=True`` (the default) computes each tile pair once
  (:func:`_symmetric_kernel_product`). For the RBF, kappa' = c kappa turns the whole
  direction into one product: phi = K @ (w (S + 2 a c X)) - 2 a c X * (K @ w), with
  repulsion scale a, i.e. d + 1 rhs columns instead of 2 d + 1. ``symmetric=False`` is
  the earlier two-sided form (every tile once per row block, rhs [S, X, 1]), kept for
  the benchmarks' side-by-side comparison (benchmarks/svgd_scaling.py).
  """
  d = x.shape[-1]
  x = x - jnp.mean(x, axis=0)
  wcol = w[:, None]
  if not symmetric:
    return _blocked_direction_two_sided(x, s, wcol, h, kernel, repulsion, block, precision)
  if kernel.dlog_profile is not None:
    if not repulsion:
      return _symmetric_kernel_product(x, (s * wcol,), h, (kernel.profile,), block, precision)
    coef = (2.0 * repulsion) * kernel.dlog_profile(h)
    rhs = jnp.concatenate([(s + coef * x) * wcol, wcol], axis=-1)
    out = _symmetric_kernel_product(x, (rhs,), h, (kernel.profile,), block, precision)
    return out[:, :d] - coef * x * out[:, d:]
  if not repulsion:
    return _symmetric_kernel_product(x, (s * wcol,), h, (kernel.profile,), block, precision)
  ones = jnp.ones_like(wcol)
  rhs = (s * wcol, jnp.concatenate([x, ones], -1) * wcol)
  out = _symmetric_kernel_product(x, rhs, h, (kernel.profile, kernel.dprofile), block, precision)
  return out[:, :d] + (2.0 * repulsion) * (out[:, d : 2 * d] - x * out[:, 2 * d :])


def _blocked_direction_two_sided(x, s, wcol, h, kernel, repulsion, block, precision) -> Array:
  """The two-sided tiled direction (x centred, wcol [n, 1]): two passes for non-RBF kernels."""
  d = x.shape[-1]
  if kernel.dlog_profile is not None:
    out = _tiled_kernel_product(x, _rhs(x, s, repulsion) * wcol, h, kernel.profile, block, precision)
    return _combine(out, x, d, kernel.dlog_profile(h), repulsion)
  drive = _tiled_kernel_product(x, s * wcol, h, kernel.profile, block, precision)
  if not repulsion:
    return drive
  ones = jnp.ones((x.shape[0], 1), x.dtype)
  dout = _tiled_kernel_product(x, jnp.concatenate([x, ones], -1) * wcol, h, kernel.dprofile, block, precision)
  return drive + (2.0 * repulsion) * (dout[:, :d] - x * dout[:, d:])


# ---------------------------------------------------------------- feature kernels


def _feature_direction(
  x, s, w, h_rule, kernel: kernels_lib.RadialKernel, repulsion: float, features: Callable[[Array], Array], precision
) -> Array:
  """SVGD direction with k(x, y) = kappa(||g(x) - g(y)||^2), g = features.

  grad_{x_j} k(x_j, x_i) = J_g(x_j)^T 2 kappa'(r_ij) (g_j - g_i), so the repulsion
  needs the per-particle Jacobians J [n, m, d] (forward or reverse mode, whichever
  is cheaper). Used by SteinGAN (Liu & Wang 2017, sec. 5.2) with g an encoder.
  Returns (phi [n, d], kernel mass sum_j w_j k_ij [n, 1]).
  """
  g = features(x)
  if g.ndim != 2 or g.shape[0] != x.shape[0]:
    raise ValueError(f"features must map [n, d] -> [n, m]; got {x.shape} -> {g.shape}.")
  h = kernels_lib.resolve_bandwidth(h_rule, g)
  gc = g - jnp.mean(g, axis=0)
  r = kernels_lib.pairwise_sq_dists(gc, gc)
  kmat = kernel.profile(r, h) * w[None, :]
  drive = jnp.matmul(kmat, s, precision=precision)
  mass = jnp.maximum(jnp.sum(kmat, axis=1, keepdims=True), jnp.finfo(x.dtype).tiny)
  if not repulsion:
    return drive, mass
  dmat = kernel.dprofile(r, h) * w[None, :]
  one = lambda xi: features(xi[None])[0]
  m, d = g.shape[-1], x.shape[-1]
  jac = jax.vmap(jax.jacfwd(one) if d <= m else jax.jacrev(one))(x)  # [n, m, d]
  a = jnp.einsum("jmd,jm->jd", jac, gc, precision=precision)  # J_j^T g_j
  term1 = jnp.matmul(dmat, a, precision=precision)
  term2 = jnp.einsum("ij,jmd,im->id", dmat, jac, gc, precision=precision, optimize=True)
  return drive + (2.0 * repulsion) * (term1 - term2), mass


# ------------------------------------------------------------------------ dispatch


def _as_block(block_size) -> Tuple[int, int]:
  if isinstance(block_size, (tuple, list)):
    rows, cols = block_size
  else:
    rows = cols = block_size
  rows, cols = int(rows), int(cols)
  if rows <= 0 or cols <= 0:
    raise ValueError(f"block_size must be positive, got {block_size!r}.")
  return rows, cols


def dense_bytes(n: int, dtype, batch: int = 1, kernel=None) -> int:
  """Approximate bytes of the n x n temporaries of the dense form."""
  mats = 3 if (kernel is None or kernel.dlog_profile is not None) else 4
  return batch * mats * n * n * jnp.dtype(dtype).itemsize


def choose_block(
  n: int, dtype, batch: int = 1, kernel=None, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES, block_size=None
) -> Optional[Tuple[int, int]]:
  """Tile shape for the blocked form, or None for the dense form.

  An explicit ``block_size`` always wins (``block_size=0`` forces the dense form);
  otherwise the dense form is used while its n x n temporaries fit the budget.
  """
  if block_size is not None:
    if isinstance(block_size, int) and block_size == 0:
      return None
    return _as_block(block_size)
  if dense_bytes(n, dtype, batch, kernel) <= memory_budget_bytes:
    return None
  return DEFAULT_BLOCK


def _kernel_mass(x, w, h, kernel: kernels_lib.RadialKernel, block, precision) -> Array:
  """sum_j w_j k(x_j, x_i) for every i, [n, 1]: the "row_sum" normaliser (dense or tiled)."""
  x = x - jnp.mean(x, axis=0)
  if block is None:
    kmat = kernel.profile(kernels_lib.pairwise_sq_dists(x, x), h)
    return jnp.matmul(kmat, w[:, None], precision=precision)
  return _symmetric_kernel_product(x, (w[:, None],), h, (kernel.profile,), block, precision)


def _direction_impl(
  x,
  s,
  log_weights,
  h_value,
  h_scale,
  *,
  bandwidth,
  kernel,
  weight_groups,
  repulsion,
  normalization,
  features,
  block,
  precision,
):
  """x, s [B, n, d]; log_weights [B, n] or None; h_value: traced fixed bandwidth or None;
  h_scale: traced multiplier of the bandwidth or None."""
  n = x.shape[-2]

  def scaled(h):
    return h if h_scale is None else h * jax.lax.stop_gradient(h_scale).astype(h.dtype)

  def one(xi, si, lwi):
    if lwi is None:
      w = jnp.full((n,), 1.0 / n, xi.dtype)
    else:
      w = normalized_weights(lwi.astype(xi.dtype), weight_groups)
    if features is not None:
      rule = bandwidth if h_value is None else (lambda _: h_value)
      if h_scale is not None:
        base = rule
        rule = lambda f: scaled(kernels_lib.resolve_bandwidth(base, f))
      phi, mass = _feature_direction(xi, si, w, rule, kernel, repulsion, features, precision)
      return phi if normalization == "mean" else phi / mass
    h = kernels_lib.resolve_bandwidth(bandwidth, xi) if h_value is None else h_value.astype(xi.dtype)
    h = scaled(h)
    if block is None:
      phi = _dense_direction(xi, si, w, h, kernel, repulsion, precision)
    else:
      phi = _blocked_direction(xi, si, w, h, kernel, repulsion, block, precision)
    if normalization == "mean":
      return phi
    # k(x_i, x_i) = 1 with w_i > 0 keeps the mass positive; a particle of weight 0 far from all
    # others could underflow it, hence the floor.
    mass = _kernel_mass(xi, w, h, kernel, block, precision)
    return phi / jnp.maximum(mass, jnp.finfo(xi.dtype).tiny)

  if block is not None and x.shape[0] == 1:
    # One set, tiled: unbatched, so the tile loop's matmuls are plain ones (not batch-1 batched ones).
    return one(x[0], s[0], None if log_weights is None else log_weights[0])[None]
  if log_weights is None:
    return jax.vmap(lambda a, b: one(a, b, None))(x, s)
  return jax.vmap(one)(x, s, log_weights)


# Jitted once per static configuration. The feature-kernel path is not jitted here:
# its ``features`` is usually a fresh closure over network parameters, which as a
# static argument would recompile on every call (callers jit the enclosing step).
_direction_jit = jax.jit(
  _direction_impl,
  static_argnames=(
    "bandwidth",
    "kernel",
    "weight_groups",
    "repulsion",
    "normalization",
    "features",
    "block",
    "precision",
  ),
)


def _flatten_tree(tree: PyTree, name: str) -> Tuple[Array, Callable[[Array], PyTree]]:
  leaves, treedef = jax.tree_util.tree_flatten(tree)
  if not leaves:
    raise ValueError(f"{name} is an empty pytree.")
  leaves = [jnp.asarray(l) for l in leaves]
  n = leaves[0].shape[0] if leaves[0].ndim else None
  for l in leaves:
    if l.ndim == 0 or l.shape[0] != n:
      raise ValueError(
        f"Every leaf of {name} needs the same leading particle axis; got leaf "
        f"shapes {[tuple(a.shape) for a in leaves]}."
      )
  shapes = [l.shape[1:] for l in leaves]
  sizes = [int(np.prod(sh)) for sh in shapes]
  dtype = jnp.result_type(*leaves)
  flat = jnp.concatenate([l.reshape(n, -1).astype(dtype) for l in leaves], axis=1)

  def unflatten(a: Array) -> PyTree:
    parts = jnp.split(a, np.cumsum(sizes)[:-1], axis=1)
    return treedef.unflatten([p.reshape((n,) + sh).astype(l.dtype) for p, sh, l in zip(parts, shapes, leaves)])

  return flat, unflatten


def svgd_direction(
  particles: Union[Array, PyTree],
  scores: Union[Array, PyTree],
  *,
  bandwidth: kernels_lib.Bandwidth = "median",
  kernel: Union[None, str, kernels_lib.RadialKernel] = None,
  log_weights: Optional[Array] = None,
  weight_groups: int = 1,
  repulsion: Union[bool, float] = True,
  normalization: str = "mean",
  metric: str = "isotropic",
  features: Optional[Callable[[Array], Array]] = None,
  block_size: Union[None, int, Tuple[int, int]] = None,
  memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
  precision=jax.lax.Precision.HIGHEST,
  bandwidth_scale: Optional[Array] = None,
) -> Union[Array, PyTree]:
  """The (importance-weighted) SVGD direction phi for one or many particle sets.

  phi(x_i) = sum_j w_j [k(x_j, x_i) grad log p(x_j) + grad_{x_j} k(x_j, x_i)], eq. (5)
  of Liu & Wang 2017 and eqs. (5)-(6) of Pu et al. 2017 with w_j = 1/n; eq. (12) of
  Pu et al. 2017 with self-normalised importance weights.

  Args:
    particles: array [..., n, d] (any leading batch of particle sets, e.g. one set of
      latent particles per data point), or a pytree whose leaves all have a leading
      particle axis n (e.g. M copies of a network's parameters; no batch axes then).
    scores: grad log p at the particles, same shape / structure as ``particles``.
    bandwidth: "median" (h = med^2), "median_log" (h = med^2 / log n), a positive
      float h (for the RBF, k = exp(-||x - x'||^2 / h)), or a callable x [n, d] -> h.
      Computed per particle set and treated as a constant for differentiation.
    kernel: None or "rbf" (default), "imq", or any :class:`stein_jax.kernels.RadialKernel`.
    log_weights: optional importance log-weights [..., n] (e.g. log p(x, z) - log q(z)),
      normalised stably inside (softmax); see :func:`normalized_weights`.
    weight_groups: number of groups of n / G particles, each normalised separately
      (M groups of k samples in eq. (12) of Pu et al. 2017).
    repulsion: False drops the grad k term (the "kernel off" ablation of Liu & Wang
      2017, sec. 5.1), leaving a kernel-smoothed gradient; a number multiplies it (the
      "repulsion_scale" of related Stein VAE code, which multiplies it by 100; True is 1).
      A Python bool or float: it is static under jit.
    normalization: "mean" (the papers' eq. (5): the weights w_j, 1/n without importance
      weights) or "row_sum" (the authors' public SteinGAN code: phi(x_i) is divided by
      sum_j w_j k(x_j, x_i), so an isolated particle still moves by its own full score
      and the repulsion is relative to the local kernel mass; docs/stein_math.md sec. 11).
    metric: "isotropic" (the papers' kernel on ||x - x'||^2) or "diagonal": the kernel on
      ||(x - x') / s||^2 with s the per-coordinate standard deviation of each particle set
      (held constant, like the bandwidth) and the direction preconditioned by s^2, i.e.
      phi = s^2 * sum_j w_j [k_Q s_j + grad_j k_Q], the matrix-valued kernel Q^-1 k_Q of
      Wang et al. (2019) with Q = diag(1 / s^2): SVGD in coordinates whitened per
      coordinate. Same mean-field fixed point (p); with few particles it stops the
      coordinates that are much narrower than the others from collapsing under a bandwidth
      set by the wide ones (docs/stein_math.md sec. 13). Not with ``features``.
    features: optional g: [n, d] -> [n, m]; then k(x, y) = kappa(||g(x) - g(y)||^2) with
      the bandwidth rule applied to the features (SteinGAN, Liu & Wang sec. 5.2). Dense only.
    block_size: None (automatic: dense while its n x n temporaries fit
      ``memory_budget_bytes``, tiled otherwise), an int or (rows, cols) tile shape to
      force the tiled form, or 0 to force the dense form. The tiled form walks the
      pairs of tiles of the symmetric kernel matrix once each, so its tiles are square:
      side sqrt(rows * cols), the requested tile's area. It is differentiable in reverse
      mode with O(n) memory (a custom VJP); forward mode (jvp) needs the dense form.
    memory_budget_bytes: budget for the dense form's n x n temporaries.
    precision: matmul precision (HIGHEST keeps float32 on GPUs/TPUs exact-ish).
    bandwidth_scale: optional scalar (may be traced, e.g. a schedule's value at the step)
      multiplying the bandwidth after the rule is applied (in the whitened coordinates for
      ``metric="diagonal"``, in feature space for ``features``): an annealed kernel
      ``factor(step) * h`` without a recompilation per step.

  Returns:
    phi with the same shape (or pytree structure) as ``particles``.

  NaN policy: outside jit, non-finite particles or scores raise ValueError. Inside jit
  they cannot be checked; a non-finite score then makes the direction of every
  particle with a non-zero kernel weight on it NaN (it is never silently dropped).
  """
  kernel = kernels_lib.get_kernel(kernel)
  kernels_lib.check_bandwidth(bandwidth)
  if normalization not in NORMALIZATIONS:
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}; got {normalization!r}.")
  if metric not in METRICS:
    raise ValueError(f"metric must be one of {METRICS}; got {metric!r}.")
  if metric == "diagonal" and features is not None:
    raise ValueError(
      "metric='diagonal' scales the particles' coordinates; it cannot be "
      "combined with a feature kernel (features=...)."
    )
  if bandwidth_scale is not None and jnp.shape(bandwidth_scale) != ():
    raise ValueError(f"bandwidth_scale must be a scalar; got shape {jnp.shape(bandwidth_scale)}.")
  unflatten = None
  if isinstance(particles, (jax.Array, np.ndarray)):
    x, s = particles, scores
  else:
    if jax.tree_util.tree_structure(particles) != jax.tree_util.tree_structure(scores):
      raise ValueError("particles and scores must be pytrees of the same structure.")
    x, unflatten = _flatten_tree(particles, "particles")
    s, _ = _flatten_tree(scores, "scores")
  x, s = _prepare_pair(x, s)
  batch_shape, (n, d) = x.shape[:-2], x.shape[-2:]
  scale = None
  if metric == "diagonal":
    scale = jax.lax.stop_gradient(jnp.std(x, axis=-2, keepdims=True))
    scale = jnp.where(scale > 0, scale, jnp.ones_like(scale))  # no spread: left unscaled
    x, s = x / scale, s * scale
  if log_weights is not None:
    log_weights = jnp.asarray(log_weights)
    if log_weights.shape != batch_shape + (n,):
      raise ValueError(
        f"log_weights shape {log_weights.shape} must be {batch_shape + (n,)} " "(one log-weight per particle)."
      )
    if n % weight_groups:
      raise ValueError(f"weight_groups={weight_groups} does not divide n={n}.")
  batch = int(np.prod(batch_shape)) if batch_shape else 1
  block = None
  if features is None:
    block = choose_block(n, x.dtype, batch, kernel, memory_budget_bytes, block_size)
  h_value, rule = _split_bandwidth(bandwidth)
  impl = _direction_jit if features is None else _direction_impl
  out = impl(
    x.reshape((batch, n, d)),
    s.reshape((batch, n, d)),
    None if log_weights is None else log_weights.reshape((batch, n)),
    h_value,
    None if bandwidth_scale is None else jnp.asarray(bandwidth_scale),
    bandwidth=rule,
    kernel=kernel,
    weight_groups=int(weight_groups),
    repulsion=_repulsion_scale(repulsion),
    normalization=normalization,
    features=features,
    block=block,
    precision=precision,
  )
  out = out.reshape(x.shape)
  if scale is not None:
    out = out * scale
  return out if unflatten is None else unflatten(out)


@dataclasses.dataclass(frozen=True)
class SteinKernel:
  """Everything that defines the kernel of an SVGD direction, as one hashable value.

  The same object is given to every SVGD caller (:func:`stein_jax.svgd_transform`, the
  samplers, the Stein VAE / VIWAE latent and decoder steps, PFA, posterior checks), so a
  kernel choice is made once and cannot drift between the places that use it; being
  hashable and immutable it can be closed over by a jitted step or passed as a static
  argument without retracing. Fields are validated here, at construction:

    SteinKernel()                                        # RBF, h = med^2: eq. (6) of Pu et al.
    SteinKernel(kernel="imq", bandwidth="median_log")    # IMQ, h = med^2 / log n
    SteinKernel(metric="diagonal", repulsion=2.0)        # docs/stein_math.md secs. 12-13

  Attributes:
    kernel: "rbf" (default), "imq" or a :class:`stein_jax.kernels.RadialKernel` (a name is
      resolved to the kernel at construction).
    bandwidth: rule name ("median", "median_log", "median_log1p"), a positive float, or a
      callable ``x [n, d] -> h`` (hashable by identity: build it once).
    metric: "isotropic" (the papers') or "diagonal" (per-coordinate whitened; sec. 13).
    repulsion: multiplier of the grad-k term (True = 1.0, False = 0.0: the kernel-off ablation).
    normalization: "mean" (eq. (5)) or "row_sum" (the authors' SteinGAN code; sec. 11).
    block_size: None (automatic dense / tiled), 0 (dense) or a tile shape (tiled).
  """

  kernel: Union[str, kernels_lib.RadialKernel] = "rbf"
  bandwidth: Any = "median"
  metric: str = "isotropic"
  repulsion: Union[bool, float] = 1.0
  normalization: str = "mean"
  block_size: Union[None, int, Tuple[int, int]] = None

  def __post_init__(self):
    object.__setattr__(self, "kernel", kernels_lib.get_kernel(self.kernel))
    kernels_lib.check_bandwidth(self.bandwidth)
    if isinstance(self.bandwidth, (jax.Array, np.ndarray)):
      raise ValueError(
        "SteinKernel.bandwidth must be a rule name, a Python float or a callable "
        "(an array is not hashable; pass bandwidth_scale to direction() instead)."
      )
    if self.metric not in METRICS:
      raise ValueError(f"metric must be one of {METRICS}; got {self.metric!r}.")
    if self.normalization not in NORMALIZATIONS:
      raise ValueError(f"normalization must be one of {NORMALIZATIONS}; got {self.normalization!r}.")
    object.__setattr__(self, "repulsion", _repulsion_scale(self.repulsion))
    if self.block_size is not None:
      _as_block(self.block_size)

  def direction(
    self,
    particles,
    scores,
    *,
    log_weights: Optional[Array] = None,
    weight_groups: int = 1,
    bandwidth_scale: Optional[Array] = None,
    features: Optional[Callable[[Array], Array]] = None,
  ):
    """:func:`svgd_direction` with this kernel (shapes and options as there)."""
    return svgd_direction(
      particles,
      scores,
      bandwidth=self.bandwidth,
      kernel=self.kernel,
      log_weights=log_weights,
      weight_groups=weight_groups,
      repulsion=self.repulsion,
      normalization=self.normalization,
      metric=self.metric,
      features=features,
      block_size=self.block_size,
      bandwidth_scale=bandwidth_scale,
    )

  def __repr__(self):
    return (
      f"SteinKernel(kernel={self.kernel.name!r}, bandwidth={self.bandwidth!r}, metric={self.metric!r}, "
      f"repulsion={self.repulsion!r}, normalization={self.normalization!r}, block_size={self.block_size!r})"
    )

  def replace(self, **changes) -> "SteinKernel":
    """A copy with some fields changed (validated again)."""
    return dataclasses.replace(self, **changes)


def as_stein_kernel(kernel: Union[None, str, kernels_lib.RadialKernel, SteinKernel] = None, **fields) -> SteinKernel:
  """A :class:`SteinKernel` from a SteinKernel (no other fields allowed), a kernel name or None.

  The one conversion used by every API that accepts either the object or the old
  keyword arguments (``kernel=``, ``bandwidth=``, ``metric=``, ``repulsion=``, ...).
  """
  if isinstance(kernel, SteinKernel):
    if fields:
      raise ValueError(
        f"got a SteinKernel and also {sorted(fields)}; set them on the SteinKernel " "(kernel.replace(...))."
      )
    return kernel
  return SteinKernel(kernel="rbf" if kernel is None else kernel, **fields)


# ------------------------------------------------------------ kernel Stein discrepancy


def _stein_kernel_tile(xa, sa, xb, sb, h, kernel: kernels_lib.RadialKernel, precision):
  """u_p(x_a, x_b) for all pairs of two blocks: [na, nb].

  u_p(x, y) = k s_x.s_y + s_x.grad_y k + s_y.grad_x k + tr(grad_x grad_y k)
            = kappa s_x.s_y + 2 kappa' (s_y - s_x).(x - y) - 2 d kappa' - 4 r kappa''.
  """
  d = xa.shape[-1]
  hi = jax.lax.Precision.HIGHEST
  r = jnp.maximum(
    jnp.sum(xa * xa, -1)[:, None] + jnp.sum(xb * xb, -1)[None, :] - 2.0 * jnp.matmul(xa, xb.T, precision=hi), 0.0
  )
  kap, dk, d2k = kernel.profile(r, h), kernel.dprofile(r, h), kernel.d2profile(r, h)
  ss = jnp.matmul(sa, sb.T, precision=precision)
  # (s_b - s_a).(x_a - x_b) = s_b.x_a - s_b.x_b - s_a.x_a + s_a.x_b
  cross = (
    jnp.matmul(xa, sb.T, precision=precision)
    + jnp.matmul(sa, xb.T, precision=precision)
    - jnp.sum(sa * xa, -1)[:, None]
    - jnp.sum(sb * xb, -1)[None, :]
  )
  return kap * ss + 2.0 * dk * cross - 2.0 * d * dk - 4.0 * r * d2k


@functools.partial(jax.jit, static_argnames=("bandwidth", "kernel", "statistic", "block", "precision"))
def _ksd_impl(x, s, h_value, *, bandwidth, kernel, statistic, block, precision):
  n, d = x.shape
  h = kernels_lib.resolve_bandwidth(bandwidth, x) if h_value is None else h_value.astype(x.dtype)
  x = x - jnp.mean(x, axis=0)
  if block is None:
    total = jnp.sum(_stein_kernel_tile(x, s, x, s, h, kernel, precision))
  else:
    b = _square_block(block, n)
    pad = (-n) % b
    # Padded particles get zero score; their terms are removed by masking instead, so
    # padding never changes the sum.
    mask = jnp.concatenate([jnp.ones((n,), x.dtype), jnp.zeros((pad,), x.dtype)])
    blocks = (_pad_rows(x, b).reshape(-1, b, d), _pad_rows(s, b).reshape(-1, b, d), mask.reshape(-1, b))

    def tile(a_i, a_j, h, offdiag):
      (xa, sa, ma), (xb, sb, mb) = a_i, a_j
      u = _stein_kernel_tile(xa, sa, xb, sb, h, kernel, precision)
      # u_p is symmetric: an off-diagonal pair (i, j) stands for (j, i) too.
      return (1.0 + offdiag) * jnp.sum(u * jax.lax.stop_gradient(ma[:, None] * mb[None, :]))

    total = _symmetric_pair_total(tile, blocks, h)
  if statistic == "v":
    return total / n**2
  diag = kernel.profile(jnp.zeros((), x.dtype), h) * jnp.sum(s * s) - n * 2.0 * d * kernel.dprofile(
    jnp.zeros((), x.dtype), h
  )
  return (total - diag) / (n * (n - 1))


def ksd(
  particles: Array,
  scores: Array,
  *,
  bandwidth: kernels_lib.Bandwidth = "median",
  kernel: Union[None, str, kernels_lib.RadialKernel] = None,
  statistic: str = "u",
  block_size: Union[None, int, Tuple[int, int]] = None,
  memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
  precision=jax.lax.Precision.HIGHEST,
) -> Array:
  """Squared kernel Stein discrepancy KSD^2(q, p) from samples of q and scores of p.

  KSD^2 = E_{x, y ~ q} u_p(x, y), u_p the Stein kernel (Liu, Lee & Jordan 2016;
  Chwialkowski et al. 2016). ``statistic="u"`` averages over pairs i != j (unbiased,
  may be slightly negative); ``"v"`` over all pairs (biased, >= 0). Differentiable in
  particles and scores, so it doubles as a training loss; the bandwidth is a
  constant for differentiation. The tiled form visits each pair of tiles once (u_p is
  symmetric) and is differentiable in reverse mode only (a custom VJP, O(n) memory).

  Args:
    particles: [..., n, d] samples; leading axes are independent sets.
    scores: [..., n, d] grad log p at the samples.
    bandwidth, kernel, block_size, memory_budget_bytes, precision: as for
      :func:`svgd_direction` (blocked evaluation never holds n x n).
    statistic: "u" or "v".

  Returns:
    KSD^2, shape [...] (a scalar for one set).
  """
  if statistic not in ("u", "v"):
    raise ValueError(f"statistic must be 'u' or 'v', got {statistic!r}.")
  kernel = kernels_lib.get_kernel(kernel)
  kernels_lib.check_bandwidth(bandwidth)
  x, s = _prepare_pair(particles, scores)
  n = x.shape[-2]
  if statistic == "u" and n < 2:
    raise ValueError("The U-statistic needs n >= 2 particles; use statistic='v'.")
  batch_shape = x.shape[:-2]
  batch = int(np.prod(batch_shape)) if batch_shape else 1
  block = choose_block(n, x.dtype, 2 * batch, None, memory_budget_bytes, block_size)
  h_value, rule = _split_bandwidth(bandwidth)
  fn = functools.partial(
    _ksd_impl, bandwidth=rule, kernel=kernel, statistic=statistic, block=block, precision=precision
  )
  xb, sb = x.reshape((batch,) + x.shape[-2:]), s.reshape((batch,) + s.shape[-2:])
  out = jax.vmap(lambda a, b: fn(a, b, h_value))(xb, sb)
  return out.reshape(batch_shape)


# ------------------------------------------------------------------- birth and death


def birth_death_rates(particles: Array, log_weights: Array, *, bandwidth=None, kernel="rbf") -> Array:
  """Birth-death rates Lambda [..., n] of particle sets [..., n, d] (docs/stein_math.md sec. 10).

  With log-weights l_j = log p(z_j) - log rho(z_j) + const (e.g. log p(x, z) - log q(z | x)
  by the change of variables, or log p minus the log of a kernel density estimate),

      Lambda_j = mean_k l_k - l_j,

  an estimate of log(rho / p)(z_j) - E_rho log(rho / p): positive where the particles are
  too dense for p. With ``bandwidth`` (any rule of :func:`svgd_direction`) the rates are
  kernel-smoothed, Lambda~_j = sum_k K_jk Lambda_k / sum_k K_jk, which averages out the
  particle-to-particle noise of the weights and keeps their large-scale (e.g. per-mode) part.
  """
  particles = jnp.asarray(particles)
  log_weights = jnp.asarray(log_weights)
  if particles.ndim < 2 or log_weights.shape != particles.shape[:-1]:
    raise ValueError(
      f"birth-death needs particles [..., n, d] and log_weights [..., n]; got "
      f"{particles.shape} and {log_weights.shape}."
    )
  lw = jax.lax.stop_gradient(log_weights)
  lam = jnp.mean(lw, -1, keepdims=True) - lw
  if bandwidth is None:
    return lam
  k = kernels_lib.get_kernel(kernel)
  flat = jax.lax.stop_gradient(particles).reshape((-1,) + particles.shape[-2:])

  def gram(x):
    return k.matrix(x, x, kernels_lib.resolve_bandwidth(bandwidth, x))

  gm = jax.vmap(gram)(flat).reshape(particles.shape[:-1] + particles.shape[-2:-1])
  return jnp.einsum("...jk,...k->...j", gm, lam) / jnp.sum(gm, -1)


def birth_death(
  key: Array, particles: Array, log_weights: Array, rate: float, *, bandwidth=None, kernel="rbf"
) -> Tuple[Array, Array]:
  """One kill-and-replace step of birth-death dynamics for particle sets [..., n, d].

  SVGD moves particles only along the score, so it cannot move mass between modes
  separated by a low-density valley (docs/stein_math.md sec. 8). Birth-death dynamics
  (Lu, Lu & Nolen 2019) can, with no travel through the valley: a particle where the
  particles are too dense for p is removed and a copy of another takes its place. Each
  particle with rate Lambda_j > 0 (:func:`birth_death_rates`) is killed with probability
  1 - exp(-rate Lambda_j) and replaced by a copy of a uniformly drawn particle of its set.
  In the mean-field limit one step maps rho to rho (1 - P_kill) + (E_rho P_kill) rho, so
  the mass of a region A changes by rho(A) rho(not A) (E[P_kill | not A] - E[P_kill | A]):
  it flows out of regions that are over-represented, and p is the fixed point (there the
  weights are uniform and nothing is killed).

  Args:
    key: PRNG key.
    particles: [..., n, d] particle sets (leading axes: independent sets).
    log_weights: [..., n] unnormalised log importance weights of the particles.
    rate: the step's rate (>= 0); 0 returns the particles unchanged.
    bandwidth, kernel: kernel smoothing of the rates (see :func:`birth_death_rates`).

  Returns:
    (new particles [..., n, d], killed mask [..., n] bool).
  """
  if _is_concrete(rate) and not float(rate) >= 0:
    raise ValueError(f"rate must be >= 0, got {rate}.")
  lam = birth_death_rates(particles, log_weights, bandwidth=bandwidth, kernel=kernel)
  p_kill = -jnp.expm1(-rate * jnp.maximum(lam, 0.0))
  k_kill, k_pick = jax.random.split(key)
  killed = jax.random.uniform(k_kill, lam.shape) < p_kill
  n = lam.shape[-1]
  pick = jax.random.randint(k_pick, lam.shape[:-1] + (n,), 0, n)
  copies = jnp.take_along_axis(jnp.asarray(particles), pick[..., None], axis=-2)
  return jnp.where(killed[..., None], copies, particles), killed
