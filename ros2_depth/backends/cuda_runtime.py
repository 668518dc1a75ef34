"""
The few CUDA runtime calls the TensorRT backend needs, through NVIDIA's CUDA Python bindings.

``cuda-python`` (PyPI ``cuda-python`` / ``cuda-bindings``) is the binding NVIDIA's own TensorRT
8.6 and 10.x Python samples use; it has wheels for x86-64 and aarch64 (Jetson) and needs no
compiler, unlike PyCUDA. Its runtime module is ``cuda.bindings.runtime`` from 12.6 on; the old
``cuda.cudart`` name (the only one in the 11.8 releases for JetPack 5's CUDA 11.4) was removed in
13.0, so both are tried. Every legacy call returns ``(error, *results)``; errors raise CudaError.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Any, Tuple

import numpy as np


class CudaError(RuntimeError):
    """A CUDA runtime call failed, or no CUDA Python binding is installed."""


def import_cudart() -> Any:
    """Return the CUDA runtime module of cuda-python; raise CudaError if none is installed."""
    problems = []
    for name in ('cuda.bindings.runtime', 'cuda.cudart'):
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            problems.append(f'{name}: {exc}')
    raise CudaError('no CUDA Python bindings (' + '; '.join(problems) + '); install '
                    'cuda-python matching your CUDA version (pip install "cuda-python==12.*" '
                    'on CUDA 12, "cuda-python==11.8.*" on JetPack 5)')


def _check(result: Any, what: str) -> Any:
    """Unpack a legacy ``(error, *values)`` result; raise CudaError naming the call on failure."""
    if isinstance(result, tuple):
        error, values = result[0], result[1:]
    else:
        error, values = result, ()
    if int(error) != 0:  # cudaSuccess
        name = getattr(error, 'name', str(error))
        raise CudaError(f'{what} failed: {name}')
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def native_handle(obj: Any) -> int:
    """Return the address of a CUDA object (a stream) as an int, for TensorRT."""
    try:
        from cuda.bindings.utils import get_cuda_native_handle  # cuda-bindings 13+
    except ImportError:
        return int(obj)
    return int(get_cuda_native_handle(obj))


class CudaRuntime:
    """One loaded CUDA runtime binding and the device this process uses."""

    def __init__(self, device: int = 0) -> None:
        """Import the binding and select `device`."""
        self.rt = import_cudart()
        self.device = device
        _check(self.rt.cudaSetDevice(device), f'cudaSetDevice({device})')

    def device_count(self) -> int:
        """Return how many CUDA devices are visible."""
        return int(_check(self.rt.cudaGetDeviceCount(), 'cudaGetDeviceCount'))

    def device_name_and_capability(self) -> Tuple[str, str]:
        """Return the device's name and compute capability ('8.7')."""
        props = _check(self.rt.cudaGetDeviceProperties(self.device), 'cudaGetDeviceProperties')
        name = props.name
        if isinstance(name, bytes):
            name = name.split(b'\0', 1)[0].decode(errors='replace')
        return str(name).strip(), f'{props.major}.{props.minor}'

    def runtime_version(self) -> str:
        """Return the CUDA runtime version as 'major.minor'."""
        version = int(_check(self.rt.cudaRuntimeGetVersion(), 'cudaRuntimeGetVersion'))
        return f'{version // 1000}.{(version % 1000) // 10}'

    def create_stream(self) -> Any:
        """Create a CUDA stream."""
        return _check(self.rt.cudaStreamCreate(), 'cudaStreamCreate')

    def destroy_stream(self, stream: Any) -> None:
        """Destroy a stream made by create_stream."""
        _check(self.rt.cudaStreamDestroy(stream), 'cudaStreamDestroy')

    def synchronize(self, stream: Any) -> None:
        """Wait for everything queued on `stream`."""
        _check(self.rt.cudaStreamSynchronize(stream), 'cudaStreamSynchronize')

    def malloc(self, nbytes: int) -> int:
        """Allocate device memory; return its address."""
        return int(_check(self.rt.cudaMalloc(int(nbytes)), f'cudaMalloc({nbytes})'))

    def free(self, pointer: int) -> None:
        """Free device memory."""
        _check(self.rt.cudaFree(pointer), 'cudaFree')

    def pinned_empty(self, shape: Tuple[int, ...], dtype: Any = np.float32
                     ) -> Tuple[np.ndarray, int]:
        """Allocate page-locked host memory as a numpy array; return (array, address)."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        pointer = int(_check(self.rt.cudaMallocHost(nbytes), f'cudaMallocHost({nbytes})'))
        buffer = (ctypes.c_byte * nbytes).from_address(pointer)
        return np.frombuffer(buffer, dtype=dtype).reshape(shape), pointer

    def free_host(self, pointer: int) -> None:
        """Free page-locked host memory."""
        _check(self.rt.cudaFreeHost(pointer), 'cudaFreeHost')

    def copy_to_device(self, device: int, host: int, nbytes: int, stream: Any) -> None:
        """Queue a host-to-device copy on `stream`."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        _check(self.rt.cudaMemcpyAsync(device, host, nbytes, kind, stream), 'cudaMemcpyAsync H2D')

    def copy_to_host(self, host: int, device: int, nbytes: int, stream: Any) -> None:
        """Queue a device-to-host copy on `stream`."""
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        _check(self.rt.cudaMemcpyAsync(host, device, nbytes, kind, stream), 'cudaMemcpyAsync D2H')


def gpu_present() -> bool:
    """Whether a CUDA binding imports and sees at least one device (False on any failure)."""
    try:
        return CudaRuntime().device_count() > 0
    except (CudaError, OSError, RuntimeError):
        return False
