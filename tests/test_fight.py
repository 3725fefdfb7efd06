"""The one-call fair fight on a reader's own task family and model, from Python and the shell,
at the tiny budget; bad input is refused by name before anything is written."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import wormhole as wh
from wormhole.fight import BUDGETS, FightBudget, fair_fight
from wormhole.report import FINAL_WORDS

READER_MODULE = textwrap.dedent('''
    import torch
    from torch import nn
    import wormhole as wh


    class Line(wh.tasks.TaskFamily):
        """y = ±x: tasks of opposite sign conflict."""
        loss = "mse"

        def __init__(self):
            super().__init__(shots=5, queries=5)

        def sample_tasks(self, n_tasks, generator):
            sign = self.signs(n_tasks, generator)
            x = torch.rand(n_tasks, 10, 1, generator=generator)
            y = sign.view(-1, 1, 1) * x
            return wh.tasks.TaskBatch(x[:, :5], y[:, :5], x[:, 5:], y[:, 5:], sign)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))

        def forward(self, x):
            return self.body(x)
''')


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reader")
    (folder / "mytasks.py").write_text(READER_MODULE)
    sys.path.insert(0, str(folder))
    import mytasks
    yield folder, mytasks
    sys.path.remove(str(folder))


def test_a_readers_family_gets_a_verdict_from_python_and_reads_it_back(reader, tmp_path):
    _, mytasks = reader
    result = fair_fight(mytasks.Line(), mytasks.Net(), budget="tiny", out=tmp_path, progress=False, device="cpu")
    assert result.verdict in FINAL_WORDS
    assert [c.key for c in result.claims] == ["helps", "conflict-training"]
    saved = json.loads((tmp_path / "fight.json").read_text())
    assert saved["verdict"] == result.verdict and (tmp_path / "forest.png").exists()
    assert set(saved["comparison"]["methods"]) == {"MAML", "Wormhole", "learned scale", "learned step"}
    assert "Does the wormhole help here?" in result._repr_html_() and "<table" in result._repr_html_()
    again = fair_fight(mytasks.Line(), mytasks.Net(), budget="tiny", out=tmp_path, progress=False, device="cpu")
    assert again.verdict == result.verdict and again.record == result.record   # read back, not retrained


def test_the_same_fight_from_the_shell(reader, tmp_path):
    folder, _ = reader
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "wormhole", "fight", "mytasks:Line", "--model", "mytasks:Net",
                           "--budget", "tiny", "--out", str(out), "--no-progress", "--device", "cpu"],
                          cwd=folder, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "searching on seeds" in done.stdout and "converging:" in done.stdout and "training:" in done.stdout
    assert "Does the wormhole help here?" in done.stdout
    assert json.loads((out / "fight.json").read_text())["verdict"] in FINAL_WORDS


class WrongShapes(wh.tasks.TaskFamily):
    loss = "mse"

    def __init__(self):
        super().__init__(shots=3, queries=3)

    def sample_tasks(self, n_tasks, generator):
        x = torch.rand(n_tasks, 3, 1, generator=generator)
        return wh.tasks.TaskBatch(x, x[:, :2], x, x, None)   # support_y has 2 examples, support_x 3


class WithBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.Linear(8, 1))

    def forward(self, x):
        return self.body(x)


@pytest.mark.parametrize("tasks,model,budget,name", [
    (WrongShapes(), nn.Linear(1, 1), "tiny", "tasks"),
    ("threshold", nn.Linear(1, 1), "tiny", "tasks"),
    (wh.tasks.Threshold(), WithBatchNorm(), "tiny", "model"),
    (wh.tasks.Threshold(), nn.Linear(1, 3), "tiny", "model"),
    (wh.tasks.Threshold(), nn.Linear(1, 1), "huge", "budget"),
])
def test_bad_input_is_refused_by_name_and_nothing_is_written(tmp_path, tasks, model, budget, name):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        fair_fight(tasks, model, budget=budget, out=out, progress=False)
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["nosuchmodule:Line", "--model", "mytasks:Net"], "does not import"),
    (["mytasks:Net", "--model", "mytasks:Net"], "not a wormhole.tasks.TaskFamily"),
    (["mytasks:Line", "--model", "mytasks:Net", "--budget", "huge"], "budget"),
])
def test_the_shell_refuses_bad_names_before_writing(reader, tmp_path, args, message):
    folder, _ = reader
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "wormhole", "fight", *args, "--out", str(out)], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not out.exists()


def test_the_named_budgets_grow_in_every_size():
    tiny, small, book = (BUDGETS[k] for k in ("tiny", "small", "book"))
    for field in ("configurations", "converge_cap", "seeds_per_set"):
        assert getattr(tiny, field) < getattr(small, field) < getattr(book, field)
    assert tiny.rungs[-1] < small.rungs[-1] < book.rungs[-1]
    for budget in (tiny, small, book):   # every budget is a valid halving: survivors train to the last rung
        plan = budget.plan()
        assert plan.rungs == tuple(budget.rungs) and plan.survivors(budget.configurations)[-1] >= 1
    assert isinstance(tiny, FightBudget)
