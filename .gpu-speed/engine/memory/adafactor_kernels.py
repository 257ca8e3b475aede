"""Triton kernels of the Adafactor step (see adafactor_triton.py for the algorithm).

Kept in their own module because Triton resolves the names a kernel calls
through the module's globals, and this module imports triton at the top:
import it only where triton is installed.
"""

import triton
import triton.language as tl


@triton.jit
def _round_store(ptr, offs, x, mask, seed, STOCHASTIC: tl.constexpr):
    if STOCHASTIC:
        # Add 16 random bits below bf16's mantissa, then truncate: rounds
        # up with probability equal to the discarded fraction.
        bits = x.to(tl.uint32, bitcast=True)
        noise = tl.randint(seed, offs).to(tl.uint32, bitcast=True) & 0xFFFF
        bits = (bits + noise) & 0xFFFF0000
        x = bits.to(tl.float32, bitcast=True)
    tl.store(ptr + offs, x.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def factored_stats(g_ptr, p_ptr, row_ptr, col_ptr, psq_ptr, R, C, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows[:, None] < R) & (cols[None, :] < C)
    offs = rows[:, None] * C + cols[None, :]
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    g2 = g * g
    tl.atomic_add(row_ptr + rows, tl.sum(g2, axis=1), mask=rows < R)
    tl.atomic_add(col_ptr + cols, tl.sum(g2, axis=0), mask=cols < C)
    tl.atomic_add(psq_ptr, tl.sum(tl.sum(p * p, axis=1), axis=0))


@triton.jit
def _factored_update(g_ptr, row_ptr, col_ptr, rmean_ptr, rows, cols, mask, R, C, eps1_sq):
    # Masked-out elements load g = 0, so their update is 0.
    g = tl.load(g_ptr + rows[:, None] * C + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    r = tl.load(row_ptr + rows, mask=rows < R, other=1.0)
    c = tl.load(col_ptr + cols, mask=cols < C, other=1.0)
    var = tl.maximum(r[:, None] * c[None, :] / tl.load(rmean_ptr), eps1_sq)
    return g / tl.sqrt(var)


@triton.jit
def factored_update_sq(
    g_ptr, row_ptr, col_ptr, rmean_ptr, usq_ptr, R, C, eps1_sq, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows[:, None] < R) & (cols[None, :] < C)
    u = _factored_update(g_ptr, row_ptr, col_ptr, rmean_ptr, rows, cols, mask, R, C, eps1_sq)
    tl.atomic_add(usq_ptr, tl.sum(tl.sum(u * u, axis=1), axis=0))


@triton.jit
def factored_apply(
    p_ptr,
    g_ptr,
    row_ptr,
    col_ptr,
    rmean_ptr,
    usq_ptr,
    alpha_ptr,
    R,
    C,
    eps1_sq,
    decay,
    d,
    seed,
    STOCHASTIC: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows[:, None] < R) & (cols[None, :] < C)
    u = _factored_update(g_ptr, row_ptr, col_ptr, rmean_ptr, rows, cols, mask, R, C, eps1_sq)
    offs = rows[:, None] * C + cols[None, :]
    rms = tl.sqrt(tl.load(usq_ptr) / (R * C))
    step = tl.load(alpha_ptr) / tl.maximum(rms / d, 1.0)
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    _round_store(p_ptr, offs, p * decay - step * u, mask, seed, STOCHASTIC)


@triton.jit
def vector_stats(g_ptr, p_ptr, v_ptr, usq_ptr, psq_ptr, N, one_minus_beta2, eps1_sq, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v = tl.load(v_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v = v + one_minus_beta2 * (g * g - v)
    # Round to the state's dtype before use, as the PyTorch step does.
    v = v.to(v_ptr.dtype.element_ty)
    tl.store(v_ptr + offs, v, mask=mask)
    v = v.to(tl.float32)
    u = tl.where(mask, g / tl.sqrt(tl.maximum(v, eps1_sq)), 0.0)
    tl.atomic_add(usq_ptr, tl.sum(u * u, axis=0))
    tl.atomic_add(psq_ptr, tl.sum(p * p, axis=0))


@triton.jit
def vector_apply(
    p_ptr, g_ptr, v_ptr, usq_ptr, alpha_ptr, N, eps1_sq, decay, d, seed, STOCHASTIC: tl.constexpr, BLOCK: tl.constexpr
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    g = tl.load(g_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    v = tl.load(v_ptr + offs, mask=mask, other=1.0).to(tl.float32)
    u = g / tl.sqrt(tl.maximum(v, eps1_sq))
    rms = tl.sqrt(tl.load(usq_ptr) / N)
    step = tl.load(alpha_ptr) / tl.maximum(rms / d, 1.0)
    p = tl.load(p_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    _round_store(p_ptr, offs, p * decay - step * u, mask, seed, STOCHASTIC)
