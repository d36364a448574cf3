"""The format contract: every module in FORMATS provides it, and what serves the apps is derived
from the modules, so a new format is one module and one line."""

from __future__ import annotations

import sys
import types

import pytest

from pipeline import formats
from pipeline.errors import PipelineError
from pipeline.runtime import RUNTIMES, VARIANTS


def test_every_listed_module_provides_the_contract():
    for name in formats.FORMATS:
        module = formats.format_module(name)
        assert isinstance(module, formats.FormatModule) and module.NAME == name


def test_runtimes_and_variants_come_from_the_modules():
    assert RUNTIMES == {
        "keras": ("keras", ("float32",)),
        "litert": ("tflite", ("float32", "float16", "dynamic", "int8")),
        "onnx": ("onnx", ("float32", "int8")),
    }
    assert VARIANTS == ("float32", "float16", "dynamic", "int8")
    assert formats.browser_formats() == ["tfjs"]


def fake_module(name: str, **members) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(members)
    return module


def test_a_new_format_is_one_module_and_one_line(monkeypatch):
    contract = dict(
        NAME="coreml",
        VARIANTS=("float32",),
        RUNTIME="Core ML",
        MULTI_FILE=True,
        SERVING_RUNTIME="coreml",
        SERVING_LABEL="Core ML",
        IN_BROWSER=False,
        export=lambda *a: None,
        load=lambda *a: None,
        predict=lambda *a: None,
        latency_ms=lambda *a: 0.0,
    )
    monkeypatch.setitem(sys.modules, "fake_coreml", fake_module("fake_coreml", **contract))
    monkeypatch.setitem(formats.FORMATS, "coreml", "fake_coreml")
    assert list(formats.serving_runtimes()) == ["keras", "litert", "onnx", "coreml"]

    incomplete = {k: v for k, v in contract.items() if k not in ("predict", "IN_BROWSER")}
    monkeypatch.setitem(sys.modules, "fake_coreml", fake_module("fake_coreml", **incomplete))
    with pytest.raises(
        PipelineError,
        match=r"does not provide the format contract \(missing: "
        r"IN_BROWSER, predict\)",
    ):
        formats.format_module("coreml")


def test_unknown_format_is_a_pipeline_error():
    with pytest.raises(PipelineError, match="Unknown format 'coreml'"):
        formats.format_module("coreml")


def test_the_savedmodel_path_is_handed_on_not_mutated(tmp_path):
    source = formats.ExportSource(model=None, model_name="m", keras_path=tmp_path / "m.keras")
    with pytest.raises(PipelineError, match="SavedModel must be exported before"):
        source.saved_model_dir  # noqa: B018 (the property raises)
    with pytest.raises(AttributeError):  # frozen: the export loop makes a new one
        source.model_name = "other"
