"""Quick runs of the experiments on universal approximation, sigmoid neurons,
SGD noise, backprop cost, saturation and slow learning: no verdict's outcome
is unexpected, every verdict has a kind, and every stochastic prediction (one
with ``n_seeds``) states its 95% interval over at least 3 seeds.
"""

from __future__ import annotations





def test_path_count_by_dynamic_programming_is_the_product_of_later_widths():
    from experiments.backprop_paths import path_count

    assert path_count((3, 5, 5, 5, 1)) == 25
    assert path_count((3, 4, 6, 2)) == 12
