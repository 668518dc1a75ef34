"""
Multi-process training helpers: process groups under ``torchrun``, sharded resumable sampling.

``torchrun --nproc_per_node=N`` sets RANK, WORLD_SIZE and LOCAL_RANK; ``init_distributed``
reads them and joins the process group (NCCL on CUDA, gloo on the CPU). Without them the run
is a single process and every helper here degrades to a no-op.

Data order and augmentation do not depend on the number of processes: ``ShardedSampler``
draws one permutation per (seed, epoch), as ``DistributedSampler`` does, gives process r the
positions r, r + N, r + 2N, ..., and pairs each index with a per-sample seed derived from
(seed, epoch, index). ``SeededDataset`` seeds the random generators with it while it loads the
sample, so the same sample is augmented the same way whichever process or worker loads it, and
a resumed run can start in the middle of an epoch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import distributed as dist
from torch.utils.data import Dataset, DistributedSampler, Sampler

_log = logging.getLogger(__name__)

SEED_KEY = 'sample_seed'


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the run: its rank, the world size, its local GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Return whether this process logs, writes checkpoints and validates."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Return whether several processes take part."""
        return self.world_size > 1


def env_info() -> DistInfo:
    """Read RANK, WORLD_SIZE and LOCAL_RANK (set by torchrun); a single process without them."""
    return DistInfo(rank=int(os.environ.get('RANK', 0)),
                    world_size=int(os.environ.get('WORLD_SIZE', 1)),
                    local_rank=int(os.environ.get('LOCAL_RANK', 0)))


def init_distributed(device_type: str, info: Optional[DistInfo] = None) -> DistInfo:
    """Join the process group when several processes run: NCCL on CUDA, gloo on the CPU."""
    info = env_info() if info is None else info
    if info.distributed and not (dist.is_available() and dist.is_initialized()):
        backend = 'nccl' if device_type == 'cuda' else 'gloo'
        dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)
        _log.info('joined the %s process group as rank %d of %d', backend, info.rank,
                  info.world_size)
    return info


def shutdown_distributed() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        # Every process reaches the teardown before any closes its connections: a gloo peer that
        # goes away while another still talks to it can abort that one.
        dist.barrier()
        dist.destroy_process_group()


def is_initialized() -> bool:
    """Return whether a process group is active."""
    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    """Wait for every process (no-op for a single process)."""
    if is_initialized():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Return the mean of ``tensor`` over the processes (the tensor itself when alone)."""
    if not is_initialized():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def all_reduce_min(tensor: torch.Tensor) -> torch.Tensor:
    """Return the element-wise minimum of ``tensor`` over the processes (itself when alone)."""
    if not is_initialized():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.MIN)
    return out


def all_gather_objects(value: Any) -> List[Any]:
    """Return every process's ``value``, in rank order ([value] when alone)."""
    if not is_initialized():
        return [value]
    out: List[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Return process ``src``'s ``value`` on every process."""
    if not is_initialized():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Return the seed for augmenting sample ``index`` in ``epoch`` of a run seeded ``seed``."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)[0]
               >> np.uint64(1))


class ShardedSampler(Sampler):
    """
    DistributedSampler order, one shard per process, yielding (index, sample seed) pairs.

    Call ``set_epoch`` before each epoch; ``start`` skips that many of this process's
    samples (to resume in the middle of an epoch).
    """

    def __init__(self, dataset_size: int, info: DistInfo, seed: int,
                 shuffle: bool = True) -> None:
        """Sample ``dataset_size`` indices for process ``info.rank`` of ``info.world_size``."""
        super().__init__()
        self.seed = seed
        self.epoch = 0
        self.start = 0
        self._sampler = DistributedSampler(range(dataset_size), num_replicas=info.world_size,
                                           rank=info.rank, shuffle=shuffle, seed=seed)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (its permutation) and the first of this process's samples."""
        self.epoch = epoch
        self.start = start
        self._sampler.set_epoch(epoch)

    def __len__(self) -> int:
        """Return how many samples this process gets in the rest of the epoch."""
        return max(len(self._sampler) - self.start, 0)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        """Yield (dataset index, sample seed) for this process's share of the epoch."""
        indices = list(self._sampler)[self.start:]
        return iter([(i, sample_seed(self.seed, self.epoch, i)) for i in indices])


class SeededDataset(Dataset):
    """
    Wrap a dataset so that item (index, seed) is loaded with all random generators seeded.

    Python's ``random``, numpy's global generator and torch's CPU generator are seeded with
    ``seed`` while the wrapped dataset loads the sample and restored afterwards, so loading
    does not disturb the caller's random streams. The seed is returned in the sample under
    ``sample_seed`` (for per-sample random choices in the training step).
    """

    def __init__(self, dataset: Dataset) -> None:
        """Wrap ``dataset``, whose items are dicts of tensors."""
        self.dataset = dataset

    def __len__(self) -> int:
        """Return the wrapped dataset's length."""
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: Tuple[int, int]) -> Dict[str, Any]:
        """Load sample ``index`` with every generator seeded from ``seed``."""
        index, seed = item
        py_state = random.getstate()
        np_state = np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                random.seed(seed)
                np.random.seed(seed % 2**32)
                torch.manual_seed(seed)
                sample = dict(self.dataset[index])
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        sample[SEED_KEY] = torch.tensor(seed, dtype=torch.int64)
        return sample
