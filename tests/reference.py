"""Brute-force NumPy oracles shared by the tests (not a test file).

One implementation of each reference quantity that several test files check ``stein_jax`` against: the SVGD
direction, the kernel Stein discrepancy, the median bandwidth rules, kernel matrices, importance weights and the
MMD. Every function is a plain loop over particles (or pairs of particles) in float64, deliberately *not* the
matrix form the library uses (docs/stein_math.md sec. 1: one matmul against [S, X, 1], tiled, centred), so that a
test comparing the two checks the algebra rather than a second copy of it.

Conventions are those of ``stein_jax`` and docs/stein_math.md:

* particles ``x`` [n, d] and scores ``s`` [n, d], s_j = grad log p(x_j); NumPy or JAX arrays of any float dtype,
  converted to float64 here;
* a radial kernel k(a, b) = kappa(||a - b||^2; h): ``"rbf"`` exp(-r / h), ``"imq"`` (1 + r / h)^beta with
  beta = -0.5 (the library's ``kernels.imq()`` default);
* bandwidth rules (docs/stein_math.md sec. 3): ``"median"`` h = the median over pairs i < j of the squared
  distances, ``"median_log"`` that divided by log n; h = 1 for n = 1 (no pair); a number is used as it is;
* callables passed in (feature maps, their Jacobians) take and return NumPy arrays of one particle.
"""

import math

import numpy as np

KERNELS = ("rbf", "imq")
IMQ_BETA = -0.5


def _f64(a):
  return np.asarray(a, np.float64)


# ------------------------------------------------------------------------------------------------------ kernels


def kernel_and_grad(a, b, h, kernel="rbf"):
  """k(a, b) and grad_a k(a, b) for one pair of points, each kernel's derivative written out by hand.

  ``"rbf"``: k = exp(-r / h), grad_a k = -(2 / h) (a - b) k; ``"imq"``: k = (1 + r / h)^beta,
  grad_a k = beta (1 + r / h)^(beta - 1) 2 (a - b) / h; r = ||a - b||^2.
  """
  a, b = _f64(a), _f64(b)
  diff = a - b
  r = float(diff @ diff)
  if kernel == "rbf":
    k = math.exp(-r / h)
    return k, -2.0 / h * diff * k
  if kernel == "imq":
    beta = IMQ_BETA
    return (1 + r / h) ** beta, beta * (1 + r / h) ** (beta - 1) * 2.0 * diff / h
  raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def kernel_matrix(x, y=None, h=1.0, kernel="rbf"):
  """K[i, j] = k(x_i, y_j) by a double loop (y = x when omitted)."""
  x = _f64(x)
  y = x if y is None else _f64(y)
  out = np.zeros((x.shape[0], y.shape[0]))
  for i in range(x.shape[0]):
    for j in range(y.shape[0]):
      out[i, j] = kernel_and_grad(x[i], y[j], h, kernel)[0]
  return out


def median_sq_distance(x):
  """Median over the n (n - 1) / 2 pairs i < j of ||x_i - x_j||^2 (1.0 when n < 2: no pair).

  The median of the *squared* distances, as ``stein_jax.kernels.median_sq_distance``: for an even number of pairs
  it averages the two middle squared distances (not the square of the average of the two middle distances).
  """
  x = _f64(x)
  n = x.shape[0]
  if n < 2:
    return 1.0
  return float(np.median([np.sum((x[i] - x[j]) ** 2) for i in range(n) for j in range(i + 1, n)]))


def bandwidth(x, rule):
  """h for the particles (or kernel coordinates) ``x``: a number as it is, or ``"median"`` / ``"median_log"``.

  ``"median"``: h = med^2 (Pu et al. 2017, sec. 5); ``"median_log"``: h = med^2 / log n (Liu & Wang 2017,
  sec. 5.1); med^2 = :func:`median_sq_distance`. Both are 1.0 for n = 1.
  """
  if isinstance(rule, str):
    n = _f64(x).shape[0]
    if rule == "median":
      return median_sq_distance(x)
    if rule == "median_log":
      return median_sq_distance(x) / math.log(n) if n > 1 else 1.0
    raise ValueError(f"unknown bandwidth rule {rule!r}")
  return float(rule)


# ---------------------------------------------------------------------------------------------- SVGD direction


def normalized_weights(log_weights, groups=1):
  """Self-normalised importance weights of Pu et al. 2017, eq. (12) (docs/stein_math.md sec. 2).

  The n log-weights form ``groups`` consecutive groups of n / groups; within each group
  w_{m,i} = exp(l_{m,i}) / sum_i' exp(l_{m,i'}) / groups (the maximum subtracted first), so all n sum to 1.
  """
  lw = _f64(log_weights)
  n = lw.shape[0]
  if n % groups:
    raise ValueError(f"{groups} groups do not divide {n} weights")
  size = n // groups
  w = np.zeros(n)
  for g in range(groups):
    block = lw[g * size : (g + 1) * size]
    e = np.exp(block - block.max())
    w[g * size : (g + 1) * size] = e / e.sum() / groups
  return w


def svgd_direction(
  x,
  s,
  h,
  *,
  log_weights=None,
  weight_groups=1,
  kernel="rbf",
  repulsion=1.0,
  normalization="mean",
  metric="isotropic",
  features=None,
  features_jacobian=None,
):
  """The SVGD direction by a double loop over particle pairs.

  Liu & Wang 2017, eq. (5) (Pu et al. 2017, eqs. (5)-(6)), with weights w_j:

      phi(x_i) = c_i sum_j w_j [k(x_j, x_i) s_j + alpha grad_{x_j} k(x_j, x_i)].

  Args:
    x, s: particles and their scores, [n, d].
    h: the bandwidth, a number or a rule of :func:`bandwidth`; a rule is applied to the kernel's coordinates
      (the features g(x_j), or x_j / sd under the diagonal metric).
    log_weights, weight_groups: importance log-weights [n] and their number of groups, giving
      w = :func:`normalized_weights` (Pu et al. 2017, eq. (12)); None: w_j = 1 / n (plain SVGD).
    kernel: ``"rbf"`` or ``"imq"`` (:func:`kernel_and_grad`).
    repulsion: alpha, the multiplier of the grad-k term (True / False: 1 / 0; docs/stein_math.md sec. 12).
    normalization: ``"mean"`` (c_i = 1, the papers' average through w) or ``"row_sum"``
      (c_i = 1 / sum_j w_j k(x_j, x_i), the authors' SteinGAN / Stein VAE code; docs/stein_math.md sec. 11).
    metric: ``"isotropic"``, or ``"diagonal"``: k(x_j, x_i) = kappa(||(x_j - x_i) / sd||^2) with sd the
      per-coordinate standard deviation of the particles (ddof 0) and phi preconditioned by sd^2
      (the matrix-valued kernel Q^-1 k_Q of Wang et al. 2019; docs/stein_math.md sec. 13).
    features, features_jacobian: a feature kernel k(x, y) = kappa(||g(x) - g(y)||^2) (Liu & Wang 2017,
      sec. 5.2; docs/stein_math.md sec. 5): g maps one particle [d] to [m] and its Jacobian to [m, d];
      grad_{x_j} k = J_j^T grad_{g_j} kappa by the chain rule.

  Returns:
    phi [n, d], float64.
  """
  x, s = _f64(x), _f64(s)
  n, d = x.shape
  if normalization not in ("mean", "row_sum"):
    raise ValueError(f"unknown normalization {normalization!r}")
  if metric not in ("isotropic", "diagonal"):
    raise ValueError(f"unknown metric {metric!r}")
  if (features is None) != (features_jacobian is None):
    raise ValueError("features and features_jacobian go together")
  if features is not None and metric != "isotropic":
    raise ValueError("a feature kernel has no diagonal metric")
  # Kernel coordinates u_j and the Jacobians du_j / dx_j, one particle at a time.
  if features is not None:
    u = [_f64(features(x[j])) for j in range(n)]
    jac = [_f64(features_jacobian(x[j])) for j in range(n)]
  elif metric == "diagonal":
    sd = x.std(axis=0)
    u = [x[j] / sd for j in range(n)]
    jac = [np.diag(1.0 / sd)] * n
  else:
    u = [x[j] for j in range(n)]
    jac = [np.eye(d)] * n
  h = bandwidth(np.stack(u), h)
  w = np.full(n, 1.0 / n) if log_weights is None else normalized_weights(log_weights, weight_groups)
  phi = np.zeros((n, d))
  for i in range(n):
    drive, repulse, mass = np.zeros(d), np.zeros(d), 0.0
    for j in range(n):
      k, grad_u = kernel_and_grad(u[j], u[i], h, kernel)
      drive += w[j] * k * s[j]
      repulse += w[j] * (jac[j].T @ grad_u)
      mass += w[j] * k
    phi[i] = drive + float(repulsion) * repulse
    if normalization == "row_sum":
      phi[i] /= mass
  if metric == "diagonal":
    phi *= sd**2
  return phi


# ------------------------------------------------------------------------------------------ Stein discrepancy


def stein_kernel(x, y, sx, sy, h, kernel="rbf", eps=1e-5):
  """u_p(x, y) = k s_x.s_y + s_x.grad_y k + s_y.grad_x k + tr(grad_x grad_y k) (Liu, Lee & Jordan 2016;
  docs/stein_math.md sec. 6), the trace term by central finite differences of grad_x k in y (independent of the
  closed form the library uses)."""
  x, y, sx, sy = _f64(x), _f64(y), _f64(sx), _f64(sy)
  kxy, gx = kernel_and_grad(x, y, h, kernel)  # gradient in the first argument
  _, gy = kernel_and_grad(y, x, h, kernel)
  tr = 0.0
  for a in range(len(x)):
    e = np.zeros(len(x))
    e[a] = eps
    _, gp = kernel_and_grad(x, y + e, h, kernel)
    _, gm = kernel_and_grad(x, y - e, h, kernel)
    tr += (gp[a] - gm[a]) / (2 * eps)
  return kxy * (sx @ sy) + sx @ gy + sy @ gx + tr


def ksd(x, s, h, kernel="rbf", statistic="u"):
  """Squared KSD of the particles x with scores s by a double loop over :func:`stein_kernel`:
  the U-statistic (pairs i != j, / n (n - 1)) or the V-statistic (all n^2 pairs, / n^2)."""
  x, s = _f64(x), _f64(s)
  n = x.shape[0]
  total, diag = 0.0, 0.0
  for i in range(n):
    for j in range(n):
      u = stein_kernel(x[i], x[j], s[i], s[j], h, kernel)
      total += u
      diag += u if i == j else 0.0
  if statistic == "v":
    return total / n**2
  if statistic == "u":
    return (total - diag) / (n * (n - 1))
  raise ValueError(f"unknown statistic {statistic!r}")


# ------------------------------------------------------------------------------------------------------- MMD


def mmd(x, y, h, kernel="rbf"):
  """Unbiased squared MMD (Gretton et al. 2012): the within-sample means over pairs i != j, minus twice the
  cross mean, each by an explicit loop."""
  x, y = _f64(x), _f64(y)
  n, m = x.shape[0], y.shape[0]
  k = lambda a, b: kernel_and_grad(a, b, h, kernel)[0]
  kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
  return kxx + kyy - 2 * kxy
