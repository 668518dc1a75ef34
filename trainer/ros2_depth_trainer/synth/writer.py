"""
Writing generated samples to a folder: one set of files per sample plus index.json.

Per sample ``{id}``: ``{id}_rgb.png`` (8-bit RGB), ``{id}_depth.npy`` (float32 metres, NaN =
invalid), ``{id}_depth_mm.png`` (uint16 millimetres, 0 = invalid, as Kinect / TUM files),
``{id}_normals.npy`` (float32 (H, W, 3) optical frame, NaN where there is no surface) and
``{id}_labels.png`` (uint8 class ids). index.json lists the samples with their intrinsics and
camera pose; docs/synthetic_data.md describes the format.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from .classes import CLASS_NAMES
from .sample import GENERATOR_VERSION, render_sample, Sample
from .scenes import KINDS

_log = logging.getLogger(__name__)

INDEX_FILE = 'index.json'
FILE_SUFFIXES = {
    'rgb': '_rgb.png',
    'depth': '_depth.npy',
    'depth_mm': '_depth_mm.png',
    'normals': '_normals.npy',
    'labels': '_labels.png',
}
MAX_DEPTH_MM = 65535


def sample_id(index: int) -> str:
    """Return the file-name stem of sample `index`."""
    return f'{index:06d}'


def depth_to_mm(depth: np.ndarray) -> np.ndarray:
    """Convert metres (NaN = invalid) to uint16 millimetres (0 = invalid or beyond 65.535 m)."""
    with np.errstate(invalid='ignore'):
        mm = np.round(depth * 1000.0)
        valid = np.isfinite(mm) & (mm >= 1) & (mm <= MAX_DEPTH_MM)
    return np.where(valid, mm, 0).astype(np.uint16)


def write_sample(folder: Path, sample: Sample) -> Dict[str, Any]:
    """Write one sample's files into `folder`; return its index.json entry."""
    frame = sample.rendered.frame
    stem = sample_id(sample.index)
    files = {key: stem + suffix for key, suffix in FILE_SUFFIXES.items()}
    png = [cv2.IMWRITE_PNG_COMPRESSION, 1]
    # Sensor noise defeats LZ matching: Huffman coding alone is faster and smaller for RGB.
    rgb_png = png + [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]
    ok = cv2.imwrite(str(folder / files['rgb']), frame.rgb[..., ::-1], rgb_png)
    ok &= cv2.imwrite(str(folder / files['depth_mm']), depth_to_mm(frame.depth), png)
    ok &= cv2.imwrite(str(folder / files['labels']), frame.labels, png)
    if not ok:
        raise OSError(f'could not write the PNG files of sample {stem} in {folder}')
    np.save(folder / files['depth'], frame.depth.astype(np.float32))
    np.save(folder / files['normals'], frame.normals.astype(np.float32))
    entry = {'id': stem, 'index': sample.index, 'files': files}
    entry.update(sample.metadata())
    return entry


def _render_and_write(job: Tuple[str, int, int, int, int, str]) -> Dict[str, Any]:
    kind, seed, index, height, width, folder = job
    return write_sample(Path(folder), render_sample(kind, seed, index, height, width))


def _init_worker() -> None:
    cv2.setNumThreads(1)


def _results(jobs: List[Tuple], workers: int) -> Iterator[Dict[str, Any]]:
    if workers <= 1:
        for job in jobs:
            yield _render_and_write(job)
        return
    # Never plain fork: a parent with threads (torch, DDS, a test runner) can deadlock its child.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context('forkserver' if 'forkserver' in methods else 'spawn')
    with context.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_render_and_write, jobs, chunksize=2)


def generate(output: Path, count: int, seed: int, kind: str, height: int, width: int,
             workers: int = 2, progress: bool = True) -> Dict[str, Any]:
    """
    Render and write `count` samples of `kind` into `output`, then index.json; return the index.

    Sample i depends only on (seed, kind, i), so the files are identical for any worker count.
    """
    if kind not in KINDS:
        raise ValueError(f'unknown scene kind {kind!r}; known: {KINDS}')
    if count < 0 or seed < 0 or height <= 0 or width <= 0:
        raise ValueError(f'need count >= 0, seed >= 0 and a positive size, got {count}, {seed}, '
                         f'{height}x{width}')
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    jobs = [(kind, int(seed), i, int(height), int(width), str(output)) for i in range(count)]
    samples = []
    bar = tqdm(total=count, desc=f'synth {kind}', unit='sample', disable=not progress)
    with bar:
        for entry in _results(jobs, workers):
            samples.append(entry)
            bar.update(1)
    index = {
        'generator': 'ros2_depth_trainer.synth',
        'generator_version': GENERATOR_VERSION,
        'kind': kind,
        'seed': int(seed),
        'count': count,
        'height': int(height),
        'width': int(width),
        'class_names': list(CLASS_NAMES),
        'depth_units': {'depth': 'float32 metres along the optical axis, NaN = invalid',
                        'depth_mm': 'uint16 millimetres, 0 = invalid'},
        'normals_frame': 'camera optical frame (x right, y down, z forward), NaN = no surface',
        'samples': samples,
    }
    with open(output / INDEX_FILE, 'w') as out:
        json.dump(index, out, indent=1)
    _log.info('wrote %d %s samples (%dx%d) to %s', count, kind, height, width, output)
    return index
