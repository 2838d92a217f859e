"""The training loop's parts on their own: the learning-rate schedule, in-place distillation, and DDP gradients
equal to one process's on the same global batch."""
import math
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from supernet.data import LMData, load_lm_data
from supernet.model import SuperTransformer
from supernet.space import SearchSpace
from supernet.tasks import distill_loss, forward, task_loss
from supernet.train import lr_factor, sandwich, sandwich_backward, train_supernet
from supernet.train_config import SupernetTrainConfig

SPACE = SearchSpace(depth=[1, 2], embed_dim=[32, 48], heads=[1, 2], ffn_dim=[64, 96], head_dim=16, max_seq_len=32)


def test_lr_factor_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    cfg = SupernetTrainConfig(steps=110, warmup_steps=10, min_lr_ratio=0.1)
    assert [lr_factor(s, cfg) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(60, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))  # half way: 0.55
    assert lr_factor(110, cfg) == pytest.approx(0.1) and lr_factor(500, cfg) == pytest.approx(0.1)
    assert lr_factor(0, SupernetTrainConfig(steps=5, warmup_steps=0)) == pytest.approx(1.0)


def _batch(seed: int, rows: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (rows, 17), generator=torch.Generator().manual_seed(seed))


DATA = LMData(train=None, val=None, vocab_size=256, source="test")


def test_distillation_mixes_the_label_loss_with_the_largests_predictions():
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    batch = _batch(0)
    members = [SPACE.largest(), SPACE.smallest()]
    with torch.no_grad():
        teacher, student = (forward(model, batch, arch, DATA) for arch in members)
        labels_only = float(task_loss(student, batch, DATA))
        kl = float(distill_loss(student, teacher))
    assert kl > 0 and float(distill_loss(teacher, teacher)) == pytest.approx(0, abs=1e-6)
    for weight in (0.0, 0.3, 1.0):
        losses = sandwich_backward(model, batch, members, DATA, weight)
        assert losses[1] == pytest.approx((1 - weight) * labels_only + weight * kl, rel=1e-5)
        model.zero_grad()
        assert losses[0] == pytest.approx(float(task_loss(teacher, batch, DATA)), rel=1e-5)  # teacher: labels


def test_alpha_divergence_is_the_larger_side_with_its_own_gradient():
    """AlphaNet's divergence: per prediction, max(KL(p || q), (sum q^2 / p - 1) / 2); where q/p stays under the
    clip, its surrogate gradient is exactly the gradient of that maximum."""
    torch.manual_seed(0)
    student = (0.4 * torch.randn(6, 5, 11)).requires_grad_()
    teacher = 0.4 * torch.randn(6, 5, 11)
    p, log_p = F.softmax(teacher, -1), F.log_softmax(teacher, -1)
    q, log_q = F.softmax(student, -1), F.log_softmax(student, -1)
    assert float((q.detach() / p).max()) < 5  # under the clip
    forward_kl, chi = (p * (log_p - log_q)).sum(-1), ((q * q / p).sum(-1) - 1) / 2
    assert 0 < int((chi > forward_kl).sum()) < chi.numel()  # both sides of the maximum are exercised
    exact = torch.maximum(forward_kl, chi).mean()
    (want,) = torch.autograd.grad(exact, student)
    loss = distill_loss(student, teacher, "alpha")
    (got,) = torch.autograd.grad(loss, student)
    assert loss.item() == pytest.approx(exact.item(), rel=1e-5)
    assert torch.allclose(got, want, atol=1e-6)
    assert distill_loss(teacher, teacher, "alpha").item() == pytest.approx(0, abs=1e-6)


def test_alpha_divergence_clips_the_inverse_ratio_as_alphanet_does():
    """Where the student is sure and the teacher is not, q/p is clipped at 5 on the alpha = -1 side; the gradient
    is AlphaNet's surrogate -sum(q (1/2 - min(q/p, 5)) log q), written out here."""
    student = torch.tensor([[3.0, 0.0, 0.0, 0.0], [0.0, 2.5, 0.0, 0.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0, 1.0, 1.0], [0.0, -1.0, 0.0, 0.0]])
    q, p = F.softmax(student, -1).detach(), F.softmax(teacher, -1)
    clipped = (q / p).clamp(max=5.0)
    chi = (q * (clipped - 1) / 2).sum(-1)
    assert bool(((q / p) > 5).any(-1).all()) and bool((chi > (p * (p / q).log()).sum(-1)).all())
    loss = distill_loss(student, teacher, "alpha")
    assert loss.item() == pytest.approx(chi.mean().item(), rel=1e-5)
    (got,) = torch.autograd.grad(loss, student)
    (want,) = torch.autograd.grad((-(q * (0.5 - clipped) * F.log_softmax(student, -1)).sum(-1)).mean(), student)
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("gap", [30.0, 100.0, 200.0])
def test_alpha_divergence_stays_finite_for_a_student_far_surer_than_its_teacher(gap):
    student = torch.zeros(1, 11)
    student[0, 0] = gap
    student.requires_grad_()
    uniform = torch.zeros(1, 11)
    loss = distill_loss(student, uniform, "alpha")
    loss.backward()
    assert loss.item() == pytest.approx(distill_loss(student, uniform, "kl").item(), rel=1e-4)  # the KL side
    assert torch.isfinite(student.grad).all()
    sure_teacher = distill_loss(uniform.clone().requires_grad_(), student.detach(), "alpha")
    assert sure_teacher.item() == pytest.approx(math.log(11), rel=1e-4)  # q/p clipped: 1.8 < KL = log 11


def test_distill_loss_refuses_an_unknown_divergence():
    with pytest.raises(ValueError, match="'kl' or 'alpha'"):
        distill_loss(torch.zeros(1, 3), torch.zeros(1, 3), "KL")


def _rank_gradients(rank: int, world: int, port: int, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    net = torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
    members = sandwich(SPACE, SupernetTrainConfig(sandwich_random=2), 0)
    sandwich_backward(net, _batch(1, 8)[rank * 4:(rank + 1) * 4], members, DATA, 0.5)
    if rank == 0:
        # numpy arrays travel by value; torch tensors would be shared memory that dies with this process
        queue.put({name: p.grad.numpy().copy() for name, p in model.named_parameters() if p.grad is not None})
    dist.barrier()
    dist.destroy_process_group()


def test_ddp_gradients_equal_one_process_on_the_same_global_batch():
    torch.manual_seed(0)
    model = SuperTransformer(SPACE, "causal_lm")
    cfg = SupernetTrainConfig(sandwich_random=2)
    members = sandwich(SPACE, cfg, 0)
    sandwich_backward(model, _batch(1, 8), members, DATA, 0.5)
    expected = {name: p.grad for name, p in model.named_parameters() if p.grad is not None}
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    processes = [context.Process(target=_rank_gradients, args=(rank, 2, 29531, queue)) for rank in range(2)]
    for process in processes:
        process.start()
    ddp = queue.get()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    assert set(ddp) == set(expected)
    for name, grad in expected.items():
        assert torch.allclose(torch.from_numpy(ddp[name]), grad, atol=1e-6, rtol=1e-4), name


def test_sampling_by_size_trains_every_band_of_sizes():
    model = SuperTransformer(SPACE, "causal_lm")
    size = model.num_params
    low, high = math.log(size(SPACE.smallest())), math.log(size(SPACE.largest()))

    def bands(sampling: str) -> list[int]:
        cfg = SupernetTrainConfig(sandwich_random=2, sampling=sampling)
        sizes = [size(a) for step in range(40) for a in sandwich(SPACE, cfg, step, size)[2:]]
        return list(np.bincount([min(3, int((math.log(s) - low) / (high - low) * 4)) for s in sizes], minlength=4))

    uniform, by_size = bands("uniform"), bands("by_size")
    assert sum(by_size) == sum(uniform) == 80 and min(by_size) >= 16, by_size  # 20 per band, give or take
    assert max(by_size) - min(by_size) < max(uniform) - min(uniform), (uniform, by_size)
    with pytest.raises(ValueError, match="needs the size"):
        sandwich(SPACE, SupernetTrainConfig(sampling="by_size"), 0)


def test_distillation_waits_for_distill_after(tmp_path):
    base = dict(steps=4, batch_size=4, seq_len=16, warmup_steps=1, checkpoint_every=10, sandwich_random=1)
    data = load_lm_data()
    # the first 3 steps of a run that distils from step 3 on (distill_after must be below steps)
    plain = train_supernet(SPACE, SupernetTrainConfig(**base), tmp_path / "plain", data=data, stop_after=3).model
    waiting = train_supernet(SPACE, SupernetTrainConfig(**base, distill=0.5, distill_after=3), tmp_path / "waiting",
                             data=data, stop_after=3).model
    early = train_supernet(SPACE, SupernetTrainConfig(**base, distill=0.5), tmp_path / "early", data=data).model
    alpha = train_supernet(SPACE, SupernetTrainConfig(**base, distill=0.5, distill_divergence="alpha"),
                           tmp_path / "alpha", data=data).model
    assert _same_weights(plain, waiting)
    assert not _same_weights(plain, early)
    assert not _same_weights(early, alpha)


def _same_weights(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_settings_added_later_leave_old_fingerprints_alone():
    """Runs recorded before a setting existed keep their supernet fingerprint while it sits at its default."""
    assert not set(SupernetTrainConfig.ADDED_LATER) & set(SupernetTrainConfig(distill=0.5).identity())
    for name, value in (("distill_after", 5), ("sampling", "by_size"), ("distill_divergence", "alpha")):
        assert SupernetTrainConfig(distill=0.5, **{name: value}).identity()[name] == value
