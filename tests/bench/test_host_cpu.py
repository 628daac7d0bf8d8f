"""bench.stack.host_cpu: the machine's busy and stolen CPU time between two readings of /proc/stat."""

from __future__ import annotations

from bench.stack import host_cpu, host_cpu_use

#             user nice system idle iowait irq softirq steal guest guest_nice
BEFORE = "cpu  1000 0 200 5000 100 0 50 10 0 0\ncpu0 ...\n"
AFTER = "cpu  1600 0 300 5200 100 0 50 110 0 0\ncpu0 ...\n"


def test_busy_counts_everything_but_idle_and_iowait_and_stolen_is_steal(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    before.write_text(BEFORE)
    after.write_text(AFTER)
    # 1,000 ticks went by: 600 user, 100 system, 200 idle, 100 steal
    assert host_cpu(str(before)) == [1000, 0, 200, 5000, 100, 0, 50, 10]
    assert host_cpu_use(host_cpu(str(before)), host_cpu(str(after))) == {"busy": 80.0, "stolen": 10.0}


def test_an_old_kernel_without_a_steal_column_reads_as_none_stolen(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 5 100 1\n")
    assert host_cpu(str(stat)) == [10, 0, 5, 100, 1, 0, 0, 0]
    assert host_cpu_use([0] * 8, host_cpu(str(stat)))["stolen"] == 0.0


def test_no_time_between_two_readings_is_no_share_and_a_live_reading_moves_forward():
    now = host_cpu()
    assert host_cpu_use(now, now) == {"busy": 0.0, "stolen": 0.0}
    assert len(now) == 8 and sum(now) > 0
    later = host_cpu()
    assert all(b >= a for a, b in zip(now, later, strict=True))
    use = host_cpu_use(now, later)
    assert 0.0 <= use["stolen"] <= use["busy"] <= 100.0


def test_shares_are_percent_of_all_the_time():
    before = [0] * 8
    assert host_cpu_use(before, [0, 0, 0, 100, 0, 0, 0, 0]) == {"busy": 0.0, "stolen": 0.0}
    assert host_cpu_use(before, [25, 0, 0, 50, 0, 0, 0, 25]) == {"busy": 50.0, "stolen": 25.0}
