"""
The JSON sidecar of an exported network: what the ros2_depth runtime reads before the ONNX file.

``model_spec`` describes a torch model as the runtime's ``ros2_depth.model_spec.ModelSpec``:
input size and normalisation, one output spec per task (depth in ln metres, unit normals, label
logits with the class table), the output grid, the model config and where the weights came from.
``export`` writes it beside the ONNX file; ``evaluate`` builds the same description for a
checkpoint scored on torch, so both see a model exactly as the node does.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from ros2_depth.model_spec import InputSpec, MetricScale, ModelSpec, OutputGrid, OutputSpec
from ros2_depth_trainer.models import Model, ModelConfig
from ros2_depth_trainer.synth.classes import CLASS_NAMES, PALETTE

INPUT_NAME = 'image'
INPUT_SCALE = 1.0 / 255.0
DEPTH_RANGE = (0.1, 20.0)  # an untrained initialisation, or a checkpoint without its data
# Families whose networks take one image, as the sidecar describes; the semantic-labels model
# also takes depth and normals maps, which the runtime does not produce as inputs.
EXPORTABLE_FAMILIES = ('eigen14', 'eigen15')


class ExportError(RuntimeError):
    """A model the sidecar cannot describe, or an export whose result does not match torch."""


def check_exportable(config: ModelConfig) -> None:
    """Raise ExportError for a model the sidecar cannot describe (not a single-image input)."""
    if config.family not in EXPORTABLE_FAMILIES:
        raise ExportError(f'{config.name} is not exportable: the {config.family!r} family takes '
                          'inputs besides the image, and the sidecar describes one image input '
                          f'(exportable families: {", ".join(EXPORTABLE_FAMILIES)})')


def class_table(num_classes: int) -> Tuple[Tuple[str, ...], Tuple[Tuple[int, int, int], ...]]:
    """
    Return (names, colours) indexed by class id 0..num_classes for a labels head.

    A head of the generated scenes' size (``synth.classes``: 14 classes after "unlabelled")
    gets their names and preview colours; any other size gets 'class_<id>' names and no
    colours (the runtime then picks distinct ones).
    """
    if num_classes == len(CLASS_NAMES) - 1:
        return tuple(CLASS_NAMES), tuple(tuple(int(c) for c in rgb) for rgb in PALETTE)
    return ('unlabelled',) + tuple(f'class_{k}' for k in range(1, num_classes + 1)), ()


def output_specs(model: Model) -> Dict[str, OutputSpec]:
    """Describe the model's outputs, one spec per task, keyed like its output dict."""
    height, width = model.output_size
    specs: Dict[str, OutputSpec] = {}
    for task, channels in model.config.task_channels.items():
        if task == 'depth':
            specs[task] = OutputSpec(name=task, kind='depth', height=height, width=width,
                                     channels=channels, encoding='log', units='m')
        elif task == 'normals':
            specs[task] = OutputSpec(name=task, kind='normals', height=height, width=width,
                                     channels=channels, units='')
        elif task == 'labels':
            names, colors = class_table(channels)
            specs[task] = OutputSpec(name=task, kind='labels', height=height, width=width,
                                     channels=channels, encoding='logits', class_names=names,
                                     class_colors=colors, first_class_id=1)
        else:  # pragma: no cover - the exportable families predict only these three
            raise ExportError(f'no sidecar description for task {task!r}')
    return specs


def model_spec(model: Model, onnx_file: str, onnx_sha256: str, trained: bool,
               seed: Optional[int] = None, revision: str = '',
               depth_range: Tuple[float, float] = DEPTH_RANGE) -> ModelSpec:
    """Describe an exported model: input, outputs, output grid, config, ONNX file and hash."""
    config = model.config
    grid = model.output_grid()
    out_h, out_w = model.output_size
    if trained:
        state = 'trained weights'
    else:
        state = (f'UNTRAINED seeded initialisation (seed {seed}): its outputs are meaningless, '
                 'for pipeline tests only')
    canonical_focal = getattr(config, 'canonical_focal', None)
    metric_scale = None
    depth_meaning = 'depth is ln(metres)'
    if canonical_focal is not None:
        metric_scale = MetricScale(canonical_focal_px=float(canonical_focal))
        depth_meaning = (f'depth is ln(metres) for a camera of focal length {canonical_focal:g} '
                         'input pixels (metric_scale)')
    description = (f'{config.description} predicting {" and ".join(config.tasks)} at '
                   f'{out_h}x{out_w} from a '
                   f'{config.input_height}x{config.input_width} RGB crop; {depth_meaning}; '
                   f'{state}.')
    return ModelSpec(
        name=config.name,
        onnx_file=onnx_file,
        input=InputSpec(name=INPUT_NAME, height=config.input_height, width=config.input_width,
                        color_order='rgb', scale=INPUT_SCALE, mean=tuple(config.mean),
                        std=tuple(config.std)),
        outputs=output_specs(model),
        output_grid=OutputGrid(scale_x=grid.scale_x, offset_x=grid.offset_x,
                               scale_y=grid.scale_y, offset_y=grid.offset_y),
        trained=trained,
        onnx_sha256=onnx_sha256,
        depth_range=tuple(depth_range),
        model_config=dataclasses.asdict(config),
        git_revision=revision,
        description=description,
        metric_scale=metric_scale,
    )
