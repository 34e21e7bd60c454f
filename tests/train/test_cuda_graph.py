"""The logic around the CUDA-graph step, on CPU: warm-up, its undo, what is recorded, the replay.

`EagerRecorder` runs the graphed path's exact sequence (snapshot, warm-up steps, gradients set to
None, record, restore) without CUDA, so a graphed trainer must equal an eager one bit for bit.
"""

import torch

from bilin.train.cuda_graph import EagerRecorder, Snapshot, StepGraph, graphs_wanted, optimizer_kwargs
from tests.train.test_loop import make_trainer, weights


def graphed(trainer, recorder=None):
    trainer._graphed = True  # what Trainer decides on CUDA; the optimizer stays the CPU one
    trainer.graph_recorder = recorder or EagerRecorder()
    return trainer


def test_a_graphed_trainer_equals_the_eager_one_bit_for_bit(tiny_root):
    eager, replayed = make_trainer(tiny_root), graphed(make_trainer(tiny_root))
    a, b = eager.fit(), replayed.fit()
    assert replayed._graph is not None  # the graphed path really ran
    for key, value in weights(eager).items():
        assert torch.equal(value, weights(replayed)[key]), key
    assert [m.val_loss for m in a.metrics] == [m.val_loss for m in b.metrics]


def test_without_the_undo_the_warm_up_steps_would_leak_into_training(tiny_root, monkeypatch):
    monkeypatch.setattr(Snapshot, "restore", lambda self: None)
    eager, leaky = make_trainer(tiny_root), graphed(make_trainer(tiny_root))
    eager.fit(), leaky.fit()
    assert not torch.equal(weights(eager)["embed.weight"], weights(leaky)["embed.weight"])


def test_snapshot_restores_parameters_and_zeroes_state_created_since():
    param = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = torch.optim.AdamW([param], lr=0.1)
    snapshot = Snapshot([param], optimizer)
    for _ in range(3):
        optimizer.zero_grad()
        (param**2).sum().backward()
        optimizer.step()
    assert not torch.equal(param.detach(), torch.tensor([1.0, -2.0]))
    state = optimizer.state[param]
    snapshot.restore()
    assert torch.equal(param.detach(), torch.tensor([1.0, -2.0]))
    assert all(not v.any() for v in state.values() if torch.is_tensor(v))  # step, exp_avg, exp_avg_sq


class SpyRecorder(EagerRecorder):
    def __init__(self):
        self.events = []

    def warm_up(self, step, steps):
        self.events.append(("warm_up", steps))
        super().warm_up(step, steps)

    def record(self, step):
        self.events.append(("record", self.gradients_were_none()))
        return super().record(step)

    def finish(self):
        self.events.append(("finish",))


def test_what_is_recorded_and_when():
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([param], lr=0.1)
    calls = []

    def step():
        calls.append(param.detach().clone())
        optimizer.zero_grad(set_to_none=True)
        (param**2).sum().backward()
        optimizer.step()

    spy = SpyRecorder()
    spy.gradients_were_none = lambda: param.grad is None
    graph = StepGraph(step, [param], optimizer, warmup=3, recorder=spy)
    # three warm-up steps ran; recording saw gradients set to None; nothing ran while recording
    assert spy.events == [("warm_up", 3), ("record", True), ("finish",)] and len(calls) == 3
    assert torch.equal(param.detach(), torch.ones(3))  # the warm-up is undone
    graph.replay()
    assert len(calls) == 4 and torch.equal(calls[-1], torch.ones(3))  # the replay starts from the undone state


def test_cuda_graphs_only_on_cuda_without_compile():
    assert graphs_wanted(True, torch.device("cuda"))
    assert not graphs_wanted(True, torch.device("cpu"))
    assert not graphs_wanted(False, torch.device("cuda"))
    assert not graphs_wanted(True, torch.device("cuda"), "reduce-overhead")
    assert optimizer_kwargs(1e-3, torch.device("cpu"), graphed=False) == {"lr": 1e-3, "fused": True}
    kwargs = optimizer_kwargs(1e-3, torch.device("cpu"), graphed=True)
    assert kwargs["capturable"] and torch.is_tensor(kwargs["lr"])  # the scheduler updates it in place
