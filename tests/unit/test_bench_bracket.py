"""The benchmark's baselines bracket the pipeline: ratios use the mean of both runs."""

from tests.bench.bench import bracket


def test_ratios_are_against_the_mean_of_the_baselines_before_and_after():
    results = {
        "plain": {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 120.0}},
        "fig1": {"wall_s": 12.0, "ratio": 1.2},
        "fig5": {"jobs_per_min": 99.0, "ratio": 0.825},
    }
    bracket(results, {"ten": {"wall_s": 12.0}, "short": {"jobs_per_min": 100.0}})
    assert results["plain"]["ten"] == {"wall_s": 11.0, "before": 10.0, "after": 12.0, "drift": 0.2}
    assert results["fig1"]["ratio"] == round(12.0 / 11.0, 3)
    assert results["plain"]["short"]["jobs_per_min"] == 110.0
    assert results["fig5"]["ratio"] == 0.9


def test_a_figure_not_run_keeps_its_single_baseline():
    results = {"plain": {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 0.0}}}
    bracket(results, {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 0.0}})
    assert "before" not in results["plain"]["short"]
