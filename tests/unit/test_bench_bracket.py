"""The benchmark's baselines: fig. 5 against the mean of the runs before and after, figs. 1
and 2 against the baseline run paired with each pipeline run."""

from tests.bench.bench import bracket, figure_long


def test_ratios_are_against_the_mean_of_the_baselines_before_and_after():
    results = {
        "plain": {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 120.0}},
        "fig1": {"wall_s": 12.0, "ratio": 1.2},  # paired: left as it is
        "fig5": {"jobs_per_min": 99.0, "ratio": 0.825},
    }
    bracket(results, {"ten": {"wall_s": 12.0}, "short": {"jobs_per_min": 100.0}})
    assert results["plain"]["ten"] == {"wall_s": 11.0, "before": 10.0, "after": 12.0, "drift": 0.2}
    assert results["fig1"]["ratio"] == 1.2
    assert results["plain"]["short"]["jobs_per_min"] == 110.0
    assert results["fig5"]["ratio"] == 0.9


def test_a_figure_not_run_keeps_its_single_baseline():
    results = {"plain": {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 0.0}}}
    bracket(results, {"ten": {"wall_s": 10.0}, "short": {"jobs_per_min": 0.0}})
    assert "before" not in results["plain"]["short"]


class _Paired:
    """A baseline and a deployment whose speeds drift together, as this VM's do."""

    def __init__(self):
        self.speed = iter([1.0, 1.0, 1.6, 1.6, 1.1, 1.1])

    def timed(self, path):
        return {"wall_s": round(10.0 * next(self.speed), 2), "cpu_s": 1.0}, "text"

    def run(self, path, **fields):
        wall = round(11.0 * next(self.speed), 2)
        job = {
            "stages": [],
            "audio_duration_seconds": 600.0,
            "text": "text",
            "created_at": None,
            "completed_at": None,
        }
        return job, wall

    def meter(self):
        import contextlib

        class M:
            others, disturbed, cpu = 0.0, False, 2.0

        return contextlib.nullcontext(M())


def test_long_figures_take_the_median_of_paired_ratios(monkeypatch):
    import tests.bench.bench as bench

    monkeypatch.setattr(bench, "tree_cpu_seconds", lambda pid: 0.0)
    monkeypatch.setattr(bench, "stage_breakdown", lambda job: {})
    monkeypatch.setattr(bench, "transcribe_rows", lambda job: [])
    fake = _Paired()
    out = figure_long(fake, "ten.wav", fake, 3, {}, 1)
    # a slow spell in the middle pair slows both of its runs: every pair says 1.1
    assert [p["ratio"] for p in out["pairs"]] == [1.1, 1.1, 1.1] and out["ratio"] == 1.1
    assert (out["plain_s"], out["wall_s"]) in {(10.0, 11.0), (16.0, 17.6), (11.0, 12.1)}
