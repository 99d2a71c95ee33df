from gridcity.lib.stamped import StampedValue


def test_a_value_is_reloaded_only_when_its_stamp_moves():
    stamp, loads, reads = ["a"], [], []

    def load():
        loads.append(stamp[0])
        return len(loads)

    def read():
        reads.append(1)
        return stamp[0]

    value = StampedValue(load, read, check_every=0)
    assert value.get() == 1 and value.get() == 1
    assert loads == ["a"] and len(reads) == 2
    stamp[0] = "b"
    assert value.get() == 2
    value.forget()
    assert value.get() == 3


def test_the_stamp_is_read_at_most_once_per_interval():
    reads = []
    value = StampedValue(lambda: "rules", lambda: reads.append(1) or "s", check_every=3600)
    for _ in range(1000):
        value.get()
    assert len(reads) == 1
