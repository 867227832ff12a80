"""RefusalBursts: a flood of refusals is answered once per burst, per user and reason."""

from __future__ import annotations

import logging

from bot.features.flood import RefusalBursts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_refusal_of_a_burst_is_answered_and_the_rest_are_not():
    clock = Clock()
    bursts = RefusalBursts(quiet_s=10.0, clock=clock)
    answered = []
    for _ in range(500):  # 500 refusals in one second
        answered.append(bursts.should_answer(7, "cap"))
        clock.now += 0.002
    assert answered[0] and sum(answered) == 1
    assert bursts.silenced == 499


def test_a_flood_that_goes_on_stays_one_burst_and_quiet_ends_it():
    clock = Clock()
    bursts = RefusalBursts(quiet_s=10.0, clock=clock)
    assert bursts.should_answer(7, "quota")
    for _ in range(30):  # one every 9 s for minutes: still the same burst
        clock.now += 9.0
        assert not bursts.should_answer(7, "quota")
    clock.now += 10.0  # a person retrying after reading the refusal is answered again
    assert bursts.should_answer(7, "quota")


def test_users_and_reasons_have_bursts_of_their_own():
    clock = Clock()
    bursts = RefusalBursts(quiet_s=10.0, clock=clock)
    assert bursts.should_answer(7, "cap")
    assert bursts.should_answer(7, "quota")  # a new reason is news to the user
    assert bursts.should_answer(8, "cap")  # another user's refusal is theirs
    assert not bursts.should_answer(7, "cap")
    assert not bursts.should_answer(8, "cap")


def test_the_silenced_count_is_logged_when_a_burst_ends(caplog):
    clock = Clock()
    bursts = RefusalBursts(quiet_s=10.0, clock=clock)
    with caplog.at_level(logging.DEBUG, logger="bot.features.flood"):
        bursts.should_answer(7, "cap")
        for _ in range(3):
            bursts.should_answer(7, "cap")
        clock.now += 11.0
        assert bursts.should_answer(7, "cap")
    assert "user 7: 3 refusal(s) (cap) of the last burst were not answered" in caplog.text


def test_old_bursts_are_forgotten():
    clock = Clock()
    bursts = RefusalBursts(quiet_s=10.0, clock=clock)
    for user in range(100):
        bursts.should_answer(user, "cap")
    clock.now += 11.0
    bursts.should_answer(1000, "cap")
    assert len(bursts._bursts) == 1  # memory doesn't grow with the number of users ever refused
