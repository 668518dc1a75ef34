"""Unit tests of ros2_depth.model_spec: the tiny model's sidecar, and every malformed sidecar."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
import shutil
from typing import Any, Callable, Dict

import pytest
from ros2_depth.model_spec import (
    file_sha256, input_focal_px, InputSpec, int8_sibling, load_spec, load_spec_for_precision,
    MetricScale, ModelSpecError, OutputGrid, SIDECAR_FORMAT, SIDECAR_VERSION, spec_from_dict)


@pytest.fixture
def model_copy(tiny_model: Path, tmp_path: Path) -> Path:
    """Return a private copy of the tiny model (sidecar and ONNX file) that a test may break."""
    for name in (tiny_model.name, tiny_model.with_suffix('.onnx').name):
        shutil.copy(tiny_model.parent / name, tmp_path / name)
    return tmp_path / tiny_model.name


@pytest.fixture(scope='module')
def sidecar_data(tiny_model: Path) -> Dict[str, Any]:
    """Return the tiny sidecar as parsed JSON."""
    return json.loads(tiny_model.read_text())


def write_modified(path: Path, data: Dict[str, Any],
                   change: Callable[[Dict[str, Any]], None]) -> Path:
    """Write a deep copy of `data`, changed by `change`, to `path`."""
    modified = copy.deepcopy(data)
    change(modified)
    path.write_text(json.dumps(modified))
    return path


# --- the tiny sidecar ----------------------------------------------------------------------------

def test_tiny_sidecar_loads(tiny_model: Path) -> None:
    spec = load_spec(tiny_model)
    assert spec.name == 'tiny' and spec.trained
    assert spec.input == InputSpec(name='image', height=228, width=304, color_order='rgb',
                                   scale=1 / 255.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert list(spec.outputs) == ['depth', 'normals']
    depth, normals = spec.output('depth'), spec.output('normals')
    assert (depth.name, depth.height, depth.width, depth.channels) == ('depth', 109, 147, 1)
    assert (depth.encoding, depth.units) == ('log', 'm')
    assert (normals.name, normals.channels) == ('normals', 3)
    assert spec.output('labels') is None
    assert spec.output_grid == OutputGrid(2.0, 5.0, 2.0, 5.0)
    assert spec.depth_range == (0.1, 20.0)
    assert spec.path == tiny_model.resolve()
    assert spec.onnx_path == tiny_model.with_suffix('.onnx').resolve()
    assert spec.onnx_sha256 == file_sha256(spec.onnx_path)


def test_onnx_path_resolves_to_its_sidecar(tiny_model: Path) -> None:
    spec = load_spec(tiny_model.with_suffix('.onnx'))
    assert spec.path == tiny_model.resolve()
    assert spec == load_spec(tiny_model)


def test_to_dict_round_trip(tiny_model: Path) -> None:
    spec = load_spec(tiny_model)
    data = spec.to_dict()
    # No metric scale: written as version 1, which runtimes before version 2 still read.
    assert data['format'] == SIDECAR_FORMAT and data['format_version'] == 1
    assert 'path' not in data and 'metric_scale' not in data
    again = spec_from_dict(json.loads(json.dumps(data)), spec.path)
    assert again == spec


def test_save_and_load(tiny_model: Path, model_copy: Path) -> None:
    spec = load_spec(model_copy)
    other = model_copy.with_name('again.json')
    spec.save(other)
    loaded = load_spec(other)
    assert loaded.path == other.resolve()
    assert loaded.to_dict() == spec.to_dict()


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / 'abc'
    path.write_bytes(b'abc')
    assert file_sha256(path) == 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'


# --- malformed sidecars --------------------------------------------------------------------------

def drop(*keys: str) -> Callable[[Dict[str, Any]], None]:
    """Return a change that deletes a (nested) key."""
    def change(data: Dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]
    return change


def put(value: Any, *keys: str) -> Callable[[Dict[str, Any]], None]:
    """Return a change that sets a (nested) key."""
    def change(data: Dict[str, Any]) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return change


MALFORMED = {
    'missing name': (drop('name'), ['"name"']),
    'missing onnx_file': (drop('onnx_file'), ['"onnx_file"']),
    'missing trained': (drop('trained'), ['"trained"']),
    'missing input': (drop('input'), ['"input"']),
    'missing outputs': (drop('outputs'), ['"outputs"']),
    'missing output_grid': (drop('output_grid'), ['"output_grid"']),
    'missing input.name': (drop('input', 'name'), ['input', '"name"']),
    'missing input.height': (drop('input', 'height'), ['input', '"height"']),
    'missing input.width': (drop('input', 'width'), ['input', '"width"']),
    'missing output kind': (drop('outputs', 'depth', 'kind'), ['outputs.depth', '"kind"']),
    'missing output name': (drop('outputs', 'normals', 'name'), ['outputs.normals', '"name"']),
    'missing output height': (drop('outputs', 'depth', 'height'), ['outputs.depth', '"height"']),
    'missing format': (drop('format'), ['format']),
    'wrong format': (put('ros2_depth/engine', 'format'), ['format', 'ros2_depth/engine']),
    'missing format_version': (drop('format_version'), ['format_version']),
    'newer format_version': (put(SIDECAR_VERSION + 1, 'format_version'),
                             ['format_version', str(SIDECAR_VERSION + 1)]),
    'string format_version': (put('1', 'format_version'), ['format_version']),
    'bad kind': (put('disparity', 'outputs', 'depth', 'kind'),
                 ['outputs.depth.kind', 'disparity']),
    'bad depth encoding': (put('inverse', 'outputs', 'depth', 'encoding'),
                           ['outputs.depth.encoding', 'inverse']),
    'normals with 1 channel': (put(1, 'outputs', 'normals', 'channels'),
                               ['outputs.normals', 'channels']),
    'depth with 3 channels': (put(3, 'outputs', 'depth', 'channels'),
                              ['outputs.depth', 'channel']),
    'zero channels': (put(0, 'outputs', 'depth', 'channels'), ['outputs.depth.channels']),
    'mismatched output grids': (put(148, 'outputs', 'normals', 'width'),
                                ['grid', '(109, 147)', '(109, 148)']),
    'zero grid scale': (put(0.0, 'output_grid', 'scale_x'), ['output_grid', 'scale']),
    'negative grid scale': (put(-2.0, 'output_grid', 'scale_y'), ['output_grid', 'scale']),
    'missing grid offset': (drop('output_grid', 'offset_y'), ['output_grid', 'offset_y']),
    'non-numeric grid': (put('two', 'output_grid', 'scale_x'), ['output_grid']),
    'depth_range reversed': (put([5.0, 1.0], 'depth_range'), ['depth_range']),
    'depth_range empty interval': (put([1.0, 1.0], 'depth_range'), ['depth_range']),
    'depth_range negative': (put([-1.0, 5.0], 'depth_range'), ['depth_range']),
    'depth_range one value': (put([1.0], 'depth_range'), ['depth_range']),
    'depth_range three values': (put([0.1, 1.0, 2.0], 'depth_range'), ['depth_range']),
    'zero input height': (put(0, 'input', 'height'), ['input.height']),
    'float input width': (put(304.5, 'input', 'width'), ['input.width']),
    'boolean input width': (put(True, 'input', 'width'), ['input.width']),
    'zero std': (put([0.25, 0.0, 0.25], 'input', 'std'), ['input.std']),
    'two-value mean': (put([0.5, 0.5], 'input', 'mean'), ['input.mean']),
    'bad color order': (put('grb', 'input', 'color_order'), ['input.color_order', 'grb']),
    'empty outputs': (put({}, 'outputs'), ['"outputs"']),
}


@pytest.mark.parametrize('case', sorted(MALFORMED))
def test_malformed_sidecar_raises_naming_the_field(model_copy: Path, sidecar_data: Dict[str, Any],
                                                   case: str) -> None:
    change, words = MALFORMED[case]
    write_modified(model_copy, sidecar_data, change)
    with pytest.raises(ModelSpecError) as err:
        load_spec(model_copy)
    text = str(err.value)
    for word in words:
        assert word in text, f'{case}: "{word}" not in message: {text}'
    assert str(model_copy.name) in text, f'{case}: the message should name the sidecar: {text}'


WRONG_TYPES = {
    'non-numeric depth_range': (put(['near', 'far'], 'depth_range'), 'depth_range'),
    'scalar depth_range': (put(5.0, 'depth_range'), 'depth_range'),
    'non-numeric input.scale': (put('1/255', 'input', 'scale'), 'input.scale'),
    'non-numeric input.mean': (put(['a', 'b', 'c'], 'input', 'mean'), 'input.mean'),
    'input not an object': (put([1, 3, 228, 304], 'input'), 'input'),
    'output not an object': (put('depth', 'outputs', 'depth'), 'outputs.depth'),
}


@pytest.mark.parametrize('case', sorted(WRONG_TYPES))
def test_wrongly_typed_field_raises_model_spec_error(model_copy: Path,
                                                     sidecar_data: Dict[str, Any],
                                                     case: str) -> None:
    change, field = WRONG_TYPES[case]
    write_modified(model_copy, sidecar_data, change)
    try:
        load_spec(model_copy)
    except ModelSpecError as exc:
        assert field in str(exc), f'{case}: "{field}" not in message: {exc}'
    except Exception as exc:  # noqa: BLE001 - the bug being exposed
        pytest.fail(f'BUG: {case} raises a bare {type(exc).__name__} ({exc}) instead of '
                    f'ModelSpecError naming {field}; depth_node.main catches only ModelSpecError '
                    'and crashes with a traceback')
    else:
        pytest.fail(f'{case} was accepted')


def test_invalid_json_raises_naming_the_file(model_copy: Path) -> None:
    model_copy.write_text('{"name": "tiny", ')
    with pytest.raises(ModelSpecError) as err:
        load_spec(model_copy)
    assert str(model_copy) in str(err.value) and 'JSON' in str(err.value)


def test_non_object_json_raises(model_copy: Path) -> None:
    model_copy.write_text('[1, 2, 3]')
    with pytest.raises(ModelSpecError) as err:
        load_spec(model_copy)
    assert str(model_copy) in str(err.value) and 'object' in str(err.value)


def test_missing_sidecar_raises_naming_it(tmp_path: Path) -> None:
    path = tmp_path / 'absent.json'
    with pytest.raises(ModelSpecError) as err:
        load_spec(path)
    assert str(path) in str(err.value) and 'does not exist' in str(err.value)
    with pytest.raises(ModelSpecError, match='absent.json'):
        load_spec(tmp_path / 'absent.onnx')


def test_missing_onnx_file_raises_naming_it(model_copy: Path) -> None:
    onnx_path = model_copy.with_suffix('.onnx')
    onnx_path.unlink()
    with pytest.raises(ModelSpecError) as err:
        load_spec(model_copy)
    assert str(onnx_path.resolve()) in str(err.value) and 'does not exist' in str(err.value)


def test_onnx_file_named_in_sidecar_must_exist(model_copy: Path,
                                               sidecar_data: Dict[str, Any]) -> None:
    write_modified(model_copy, sidecar_data, put('other.onnx', 'onnx_file'))
    with pytest.raises(ModelSpecError, match='other.onnx'):
        load_spec(model_copy)


def test_hash_mismatch_raises_naming_the_onnx_file(model_copy: Path) -> None:
    onnx_path = model_copy.with_suffix('.onnx')
    expected = load_spec(model_copy).onnx_sha256
    with open(onnx_path, 'ab') as stream:
        stream.write(b'\0')
    with pytest.raises(ModelSpecError) as err:
        load_spec(model_copy)
    text = str(err.value)
    assert str(onnx_path.resolve()) in text and 'sha256' in text and expected[:12] in text
    assert file_sha256(onnx_path)[:12] in text
    # Without verification the modified file is accepted.
    assert load_spec(model_copy, verify_hash=False).onnx_sha256 == expected


def test_sidecar_without_hash_is_refused(model_copy: Path, sidecar_data: Dict[str, Any]) -> None:
    """Without a hash any network of the same signature would load: the runtime refuses it."""
    write_modified(model_copy, sidecar_data, put('', 'onnx_sha256'))
    with open(model_copy.with_suffix('.onnx'), 'ab') as stream:
        stream.write(b'\0')
    with pytest.raises(ModelSpecError, match='has no onnx_sha256.*re-export'):
        load_spec(model_copy)
    assert load_spec(model_copy, verify_hash=False).onnx_sha256 == ''


def test_spec_from_dict_defaults(sidecar_data: Dict[str, Any]) -> None:
    data = copy.deepcopy(sidecar_data)
    for key in ('depth_range', 'onnx_sha256', 'description', 'git_revision', 'model_config'):
        del data[key]
    for key in ('color_order', 'scale', 'mean', 'std'):
        del data['input'][key]
    del data['outputs']['normals']['channels']
    with pytest.raises(ModelSpecError, match='3 channels'):
        spec_from_dict(data)
    data['outputs']['normals']['channels'] = 3
    del data['outputs']['depth']['encoding']
    spec = spec_from_dict(data)
    assert spec.depth_range == (1e-3, 100.0)
    assert spec.input.mean == (0.0, 0.0, 0.0) and spec.input.std == (1.0, 1.0, 1.0)
    assert spec.input.scale == pytest.approx(1 / 255.0) and spec.input.color_order == 'rgb'
    assert spec.outputs['depth'].encoding == 'linear'
    assert spec.path is None and spec.onnx_path == (Path('.') / 'tiny.onnx').resolve()


# --- metric scale and labels (format version 2) --------------------------------------------------

def test_metric_scale_factor_is_focal_over_canonical() -> None:
    scale = MetricScale(canonical_focal_px=250.0)
    assert scale.factor(250.0) == 1.0
    assert scale.factor(500.0) == 2.0 and scale.factor(125.0) == 0.5
    assert input_focal_px(400.0, 100.0) == pytest.approx(200.0)


def test_camera_model_sidecar_round_trips_as_version_2(tiny_camera_model: Path) -> None:
    spec = load_spec(tiny_camera_model)
    assert spec.metric_scale == MetricScale('canonical_focal', 250.0)
    data = json.loads(tiny_camera_model.read_text())
    assert data['format_version'] == SIDECAR_VERSION == 2
    assert data['metric_scale'] == {'scheme': 'canonical_focal', 'canonical_focal_px': 250.0}
    labels = spec.output('labels')
    assert (labels.channels, labels.first_class_id, labels.encoding) == (4, 1, 'logits')
    assert labels.class_names[0] == 'unlabelled' and len(labels.class_names) == 5
    assert labels.class_colors[1] == (255, 0, 0)
    assert spec_from_dict(json.loads(json.dumps(spec.to_dict())), spec.path) == spec


CAMERA_MALFORMED = {
    'metric_scale in version 1': (put(1, 'format_version'), ['metric_scale', 'format_version']),
    'unknown scheme': (put('focal_ratio', 'metric_scale', 'scheme'),
                       ['metric_scale.scheme', 'focal_ratio']),
    'zero canonical focal': (put(0.0, 'metric_scale', 'canonical_focal_px'),
                             ['canonical_focal_px']),
    'missing canonical focal': (drop('metric_scale', 'canonical_focal_px'),
                                ['canonical_focal_px']),
    'metric_scale not an object': (put(250.0, 'metric_scale'), ['metric_scale']),
    'boolean colour component': (put([[0, 0, 0], [True, 0, 0], [0, 0, 0], [0, 0, 0],
                                      [0, 0, 0]], 'outputs', 'labels', 'class_colors'),
                                 ['colours']),
    'too few class names': (put(['a', 'b'], 'outputs', 'labels', 'class_names'),
                            ['outputs.labels', 'class_names', 'expected 5']),
    'too many class colours': (put([[0, 0, 0]] * 6, 'outputs', 'labels', 'class_colors'),
                               ['outputs.labels', 'class_colors']),
    'colour out of range': (put([[0, 0, 0], [256, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]],
                                'outputs', 'labels', 'class_colors'), ['colours', '256']),
    'negative first class id': (put(-1, 'outputs', 'labels', 'first_class_id'),
                                ['first_class_id']),
    'class ids beyond mono8': (put(253, 'outputs', 'labels', 'first_class_id'),
                               ['256', 'mono8']),
}


@pytest.mark.parametrize('case', sorted(CAMERA_MALFORMED))
def test_malformed_camera_sidecar_names_the_field(tiny_camera_model: Path, tmp_path: Path,
                                                  case: str) -> None:
    for name in (tiny_camera_model.name, tiny_camera_model.with_suffix('.onnx').name):
        shutil.copy(tiny_camera_model.parent / name, tmp_path / name)
    change, words = CAMERA_MALFORMED[case]
    path = write_modified(tmp_path / tiny_camera_model.name,
                          json.loads(tiny_camera_model.read_text()), change)
    with pytest.raises(ModelSpecError) as info:
        load_spec(path)
    for word in words:
        assert word in str(info.value), (case, str(info.value))


def test_null_metric_scale_is_no_metric_scale(tiny_model: Path) -> None:
    data = json.loads(tiny_model.read_text())
    data['metric_scale'] = None
    assert spec_from_dict(data, tiny_model).metric_scale is None


def _int8_sibling_of(fp32: Path, parent_sha256: str = '') -> Path:
    """Write an INT8 sidecar beside ``fp32`` (over a copy of its ONNX file) and return its path."""
    spec = load_spec(fp32)
    onnx_copy = fp32.with_name(fp32.stem + '.int8.onnx')
    shutil.copyfile(spec.onnx_path, onnx_copy)
    data = spec.to_dict()
    data.update(onnx_file=onnx_copy.name, precision='int8',
                parent_onnx_sha256=parent_sha256 or spec.onnx_sha256,
                quantization={'calibration': 'minmax'})
    sidecar = int8_sibling(fp32)
    sidecar.write_text(json.dumps(data))
    return sidecar


def test_precision_fp32_loads_the_model_as_given(model_copy: Path) -> None:
    """fp32 is the configured file; a model without the field is FP32."""
    spec = load_spec_for_precision(model_copy, 'fp32')
    assert spec.precision == 'fp32' and spec.path == model_copy.resolve()
    assert 'precision' not in spec.to_dict() and 'parent_onnx_sha256' not in spec.to_dict()


def test_precision_int8_resolves_to_the_sibling(model_copy: Path) -> None:
    """int8 loads NAME.int8.json beside the model; an INT8 file given by path is used as it is."""
    sidecar = _int8_sibling_of(model_copy)
    assert sidecar.name == model_copy.stem + '.int8.json'
    spec = load_spec_for_precision(model_copy, 'int8')
    assert spec.path == sidecar.resolve() and spec.precision == 'int8'
    assert spec.parent_onnx_sha256 == load_spec(model_copy).onnx_sha256
    assert spec.quantization == {'calibration': 'minmax'}
    assert spec_from_dict(spec.to_dict()) == dataclasses.replace(spec, path=None)
    for precision in ('fp32', 'int8'):
        assert load_spec_for_precision(sidecar, precision) == spec
    assert load_spec_for_precision(model_copy.with_suffix('.onnx'), 'int8') == spec


def test_precision_int8_without_a_sibling_says_how_to_make_one(model_copy: Path) -> None:
    """One line naming the file it looked for and the quantize command."""
    with pytest.raises(ModelSpecError) as error:
        load_spec_for_precision(model_copy, 'int8')
    message = str(error.value)
    assert '\n' not in message and model_copy.stem + '.int8.json' in message
    assert 'ros2-depth-train quantize --model' in message


def test_int8_sibling_of_another_parent_is_refused(model_copy: Path) -> None:
    """A sibling whose parent hash is not the model's is not run in its place."""
    _int8_sibling_of(model_copy, parent_sha256='0' * 64)
    with pytest.raises(ModelSpecError, match='is not the INT8 model of'):
        load_spec_for_precision(model_copy, 'int8')


def test_bad_precision_fields_are_refused(sidecar_data: Dict[str, Any]) -> None:
    """An unknown precision, or an int8 model without its parent, names the field."""
    with pytest.raises(ModelSpecError, match='precision must be one of'):
        spec_from_dict(dict(sidecar_data, precision='fp16'))
    with pytest.raises(ModelSpecError, match='parent_onnx_sha256'):
        spec_from_dict(dict(sidecar_data, precision='int8'))
    with pytest.raises(ModelSpecError, match='precision must be one of'):
        load_spec_for_precision(Path('unused.json'), 'bf16')
