"""SymPy derivation of the paper's variance recursion and weight scale (docs/theory.md §2).

Steps, each done symbolically (exact, no floating point):

1. Membrane u ~ N(0, q) with density p(u) = exp(-u^2 / (2q)) / sqrt(2 pi q). A spike is
   s = [u > theta], so s^2 = s and E[s^2] = int_theta^oo p(u) du = 1/2 erfc(theta / sqrt(2q)).
2. u_l = sum_{i=1}^n w_i s_i with w_i independent of s_i, zero mean, variance v:
   Var[w s] = E[w^2] E[s^2] - E[w]^2 E[s]^2 = v E[s^2], and the n terms are independent,
   so Var[u_l] = n v E[s_{l-1}^2]  (the length map q_l = n v P(u_{l-1} > theta)).
3. Var[u_l] = Var[u_{l-1}] = q  =>  v = q / (n E[s^2]) = 2 q / (n erfc(theta / sqrt(2q))).

Also derived: the slope of the length map and its value at the paper's fixed point,
theta phi(theta) / (2 Q(theta)) for q* = 1. ``derive()`` returns all expressions;
``latex()`` renders them; ``lambdified()`` turns them into float64 NumPy functions (the
tests check them equal to the log-space numerics of theory.core.closed_form and theory.meanfield.maps).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy as sp


@dataclass(frozen=True)
class Derivation:
    threshold: sp.Symbol          # theta
    q: sp.Symbol                  # membrane variance of the layer below, Var[u_{l-1}]
    fan_in: sp.Symbol             # n
    weight_var: sp.Symbol         # v = Var[w]
    density: sp.Expr              # p(u), Gaussian N(0, q)
    firing_probability: sp.Expr   # E[s^2] = P(u > theta)
    next_variance: sp.Expr        # Var[u_l] = n v E[s_{l-1}^2]
    weight_var_solution: sp.Expr  # v solving Var[u_l] = Var[u_{l-1}] = q
    weight_std_solution: sp.Expr  # sqrt(v)
    map_slope: sp.Expr            # d Var[u_l] / d q at fixed v
    fixed_point_slope: sp.Expr    # map_slope at v = solution, q = 1


@lru_cache(maxsize=1)
def derive() -> Derivation:
    """Run the derivation (about a second; cached)."""
    theta = sp.Symbol("theta", real=True)
    q = sp.Symbol("q", positive=True)
    n = sp.Symbol("n", positive=True, integer=True)
    v = sp.Symbol("v", positive=True)
    u = sp.Symbol("u", real=True)

    density = sp.exp(-u**2 / (2 * q)) / sp.sqrt(2 * sp.pi * q)
    # Step 1: s in {0, 1} so s^2 = s; E[s^2] is the tail mass above the threshold.
    firing = sp.simplify(sp.integrate(density, (u, theta, sp.oo)))
    assert sp.simplify(sp.integrate(density, (u, -sp.oo, sp.oo)) - 1) == 0

    # Step 2: one term w*s with independent factors; symbols for the moments of each.
    mean_w, second_w, mean_s, second_s = sp.symbols("E_w E_w2 E_s E_s2", real=True)
    var_term = (second_w * second_s) - (mean_w * mean_s) ** 2   # Var[w s] = E[w^2 s^2] - E[w s]^2
    var_term = var_term.subs({mean_w: 0, second_w: v, second_s: firing, mean_s: firing})
    # i.i.d. terms: the variance of the sum is n times one term's.
    next_variance = sp.simplify(n * var_term)

    # Step 3: stationarity of the variance.
    solutions = sp.solve(sp.Eq(next_variance, q), v)
    (weight_var,) = solutions
    weight_var = sp.simplify(weight_var)

    slope = sp.diff(next_variance, q)
    fixed_slope = sp.simplify(slope.subs(v, weight_var).subs(q, 1))
    return Derivation(theta, q, n, v, density, firing, next_variance, weight_var,
                      sp.sqrt(weight_var), sp.simplify(slope), fixed_slope)


def latex() -> dict[str, str]:
    """LaTeX of the derived expressions, keyed by name."""
    d = derive()
    return {
        "firing_probability": r"\mathbb{E}[s^2] = P(u>\theta) = " + sp.latex(d.firing_probability),
        "next_variance": r"\mathrm{Var}[u_l] = " + sp.latex(d.next_variance),
        "weight_var": r"\mathrm{Var}[w_l] = " + sp.latex(d.weight_var_solution),
        "fixed_point_slope": r"g'(q^*=1) = " + sp.latex(d.fixed_point_slope),
    }


def lambdified():
    """Float64 NumPy functions of the derived expressions (via scipy.special.erfc):

    firing_probability(theta, q), next_variance(theta, q, n, v), weight_std(theta, q, n),
    map_slope(theta, q, n, v), fixed_point_slope(theta).
    """
    d = derive()
    modules = ["scipy", "numpy"]
    return {
        "firing_probability": sp.lambdify((d.threshold, d.q), d.firing_probability, modules),
        "next_variance": sp.lambdify((d.threshold, d.q, d.fan_in, d.weight_var), d.next_variance, modules),
        "weight_std": sp.lambdify((d.threshold, d.q, d.fan_in), d.weight_std_solution, modules),
        "map_slope": sp.lambdify((d.threshold, d.q, d.fan_in, d.weight_var), d.map_slope, modules),
        "fixed_point_slope": sp.lambdify((d.threshold,), d.fixed_point_slope, modules),
    }


if __name__ == "__main__":  # python -m theory.core.derivation prints the derived results
    import argparse
    import sys

    if sys.argv[1:] and sys.argv[1] not in ("-h", "--help"):
        print(f"python -m theory.core.derivation: error: takes no arguments, got {' '.join(sys.argv[1:])!r}",
              file=sys.stderr)
        sys.exit(2)
    argparse.ArgumentParser(prog="python -m theory.core.derivation",
                            description="Print the SymPy derivation of the paper's weight variance: LaTeX of "
                                        "every step, the solved Var[w] and the slope of the length map at q* = 1."
                            ).parse_args()
    for key, text in latex().items():
        print(f"{key}: {text}")
    d = derive()
    print("weight variance:", d.weight_var_solution)
    print("slope at q* = 1:", d.fixed_point_slope)
