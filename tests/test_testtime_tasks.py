"""Verifiable tasks: deterministic generators, exact-match verifiers, train/test split by problem."""

from __future__ import annotations

import pytest

from scalinglab.errors import InputError
from scalinglab.testtime.tasks import TASKS, Addition, decode, encode, extract_answer, get_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_generators_are_deterministic_and_answers_verify(name):
    task = get_task(name)
    first = task.problems("train", 200, seed=7)
    assert first == task.problems("train", 200, seed=7)
    assert first != task.problems("train", 200, seed=8)
    assert len({p.prompt for p in first}) == 200
    for p in first[:50]:
        assert task.verify(p, p.answer + "\nanything after the end mark is ignored")
        assert not task.verify(p, p.answer + "0\n")
        assert decode(encode(p.text)) == p.text


@pytest.mark.parametrize("name", sorted(TASKS))
def test_train_and_test_share_no_problem_whatever_the_seeds(name):
    task = get_task(name)
    train = {p.prompt for p in task.problems("train", 3000, seed=1)}
    test = {p.prompt for p in task.problems("test", 150, seed=2)}
    assert not train & test


def test_reference_answers_are_correct():
    for p in get_task("addition", digits=4).problems("test", 100):
        a, b = p.prompt[:-1].split("+")
        assert int(p.answer) == int(a) + int(b)
    reversed_task = get_task("addition", digits=2, reverse=True)
    for p in reversed_task.problems("test", 100):
        a, b = p.prompt[:-1].split("+")
        assert int(p.answer[::-1]) == int(a) + int(b)  # least-significant digit first
    # same operand pairs, same split, only the answer order differs
    plain = get_task("addition", digits=2).problems("test", 100)
    assert [p.prompt for p in plain] == [p.prompt for p in reversed_task.problems("test", 100)]
    for p in get_task("arithmetic", n_ops=3).problems("test", 200):
        assert int(p.answer) == eval(p.prompt[:-1], {"__builtins__": {}})  # noqa: S307 — digits and + - * ( ) only
    for p in get_task("sorting").problems("test", 100):
        assert p.answer == "".join(sorted(p.prompt[:-1])) and p.prompt.endswith(">")


def test_known_examples_and_answer_extraction():
    assert extract_answer(" 579\n12") == "579"
    assert extract_answer("579") == "579"
    task = Addition(digits=3)
    p = task.problems("test", 1)[0]
    assert task.verify(p, f"{p.answer}\n") and not task.verify(p, "")


def test_bad_task_requests_raise_input_error():
    with pytest.raises(InputError, match="unknown task"):
        get_task("chess")
    with pytest.raises(InputError, match="split"):
        get_task("addition").problems("valid", 3)
    with pytest.raises(InputError, match="fewer than"):
        Addition(digits=1).problems("test", 50)  # only 100 one-digit sums exist, ~10 in the test split
    with pytest.raises(InputError, match="vocabulary"):
        encode("what?")
    with pytest.raises(InputError, match="test_fraction"):
        Addition(test_fraction=1.5)
