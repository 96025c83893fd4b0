import numpy as np
import pytest

from analysis.plots import timeaxis

US, MS = 1_000, 1_000_000


def test_microsecond_events_get_a_full_step_each():
    axis = timeaxis.build([0, 1 * US, 2 * US, 3 * US])
    assert np.all(np.diff(axis.positions) >= axis.step)
    assert axis.breaks == ()


def test_a_long_idle_gap_becomes_one_break_with_its_real_length():
    axis = timeaxis.build([0, 10 * US, 1_000 * MS, 1_000 * MS + 20 * US])
    assert len(axis.breaks) == 1
    brk = axis.breaks[0]
    assert brk.duration_ns == 1_000 * MS - 10 * US
    assert axis.positions[1] < brk.pos_start < brk.pos_end < axis.positions[2]
    # the whole second of idleness costs less room than three events
    assert axis.positions[2] - axis.positions[1] < 3 * axis.step


def test_longer_gaps_get_more_room_below_the_break_threshold():
    short = timeaxis.build([0, 10 * US]).positions[1]
    longer = timeaxis.build([0, 30 * MS]).positions[1]
    assert short < longer < short + 2


def test_slots_reserve_rows_and_equal_times_stay_distinct():
    axis = timeaxis.build([0, 0, 5 * US], slots=[1, 2, 1])
    assert axis.positions[1] - axis.positions[0] >= 2 * axis.step
    assert axis.positions[2] > axis.positions[1]


def test_position_interpolates_between_knots_and_ticks_keep_their_distance():
    axis = timeaxis.build([0, 1 * MS, 2 * MS])
    middle = axis.position(500 * US)
    assert axis.positions[0] < middle < axis.positions[1]
    ticks = axis.ticks(min_spacing=1.5)
    assert all(b[0] - a[0] >= 1.5 for a, b in zip(ticks, ticks[1:]))


def test_unsorted_times_are_refused():
    with pytest.raises(ValueError):
        timeaxis.build([5, 1])
