import numpy as np

from mrlinreg.numerics import ridge
from mrlinreg.numerics.solvers import evaluate_from_r


def test_penalty_on_r_equals_penalty_around_the_oracle():
    rng = np.random.default_rng(0)
    n, d = 200, 3
    A = np.column_stack([rng.standard_normal((n, d)), np.ones(n)])
    y = rng.standard_normal(n)
    R = np.linalg.qr(np.column_stack([A, y]), mode="r")
    mask = ridge.penalty_mask(d, True)
    assert mask.tolist() == [1, 1, 1, 0]
    lam = 0.7
    W, P = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    on_r = evaluate_from_r(ridge.augment_r(R, n, lam, mask), n, W, P, hessian=True)
    around = ridge.penalized_oracle(lambda W, P, h: evaluate_from_r(R, n, W, P, h), lam, mask)(
        W, P, True)
    for a, b in ((on_r.loss, around.loss), (on_r.grad, around.grad), (on_r.hp, around.hp),
                 (on_r.hessian, around.hessian)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    direct = np.mean((A @ W - y[:, None]) ** 2, axis=0) + lam * ((mask[:, None] * W) ** 2).sum(0)
    np.testing.assert_allclose(on_r.loss, direct, rtol=1e-12)
    for j in range(3):
        np.testing.assert_allclose(ridge.data_mse(on_r.loss[j], W[:, j], lam, mask),
                                   np.mean((A @ W[:, j] - y) ** 2), rtol=1e-12)
