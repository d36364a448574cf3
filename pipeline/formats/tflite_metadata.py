"""TFLite metadata: the labels, the input contract and a description, carried inside the .tflite.

Written with TensorFlow Lite Support's metadata schema (tflite-support 0.4.4, its generated
flatbuffer classes) exactly as its `MetadataPopulator` writes it: a "TFLITE_METADATA" buffer in the
model and the associated files (labels.txt) appended as a zip archive. The populator itself is not
used: its native helper `_pywrap_metadata_version` links libusb, which a plain Debian machine lacks,
and it only computes `min_parser_version`, which is "1.0.0" for the fields written here (every one
is in the 1.0.0 schema). Android Studio's model binding and the Task library read this metadata;
they expect RGB [1, H, W, 3] images, so for this [N, 28, 28] model it documents rather than drives.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

METADATA_FIELD_NAME = "TFLITE_METADATA"
TFLITE_FILE_IDENTIFIER = b"TFL3"
METADATA_FILE_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"
LABELS_FILE = "labels.txt"
INPUT_CONTRACT = (
    "float32 [batch, 28, 28], values 0..1 (pixel / 255), white ink on black. Prepare a drawing "
    "with MNIST's recipe: crop to the ink, fit it in 20x20 keeping the aspect ratio "
    "(anti-aliased), paste it into 28x28 with its centre of mass at the centre."
)
OUTPUT_CONTRACT = "float32 [batch, 10]: the probability of each label in labels.txt, in order."


@dataclass(frozen=True)
class Contract:
    """What the metadata says about the tensors: MNIST's digit models by default; a model of one's
    own gets its own (contract_for)."""

    input_text: str = INPUT_CONTRACT
    output_text: str = OUTPUT_CONTRACT
    input_range: tuple[float, float] = (0.0, 1.0)  # the image tensor's values
    pixel_mean: float = 0.0  # input = (pixel - pixel_mean) / pixel_std, TFLite's NormalizationOptions
    pixel_std: float = 255.0
    grayscale: bool = True


def contract_for(record: dict, classes: int) -> Contract:
    """The metadata of a model of one's own from its manifest `input` record (pipeline/own_model.py):
    its shape, range and resize in words, and the NormalizationOptions that take 0..255 pixels to
    its range."""
    low, high = record["range"]
    shape = ", ".join(str(n) for n in record["shape"][1:])
    image = record["image"]
    return Contract(
        input_text=(
            f"float32 [batch, {shape}], values {low:g}..{high:g} (pixels 0..255 scaled linearly). "
            f"Prepare an image: {image['channels']} channel(s), resized to {image['height']}x{image['width']} "
            f"({record['resize']})."
        ),
        output_text=f"float32 [batch, {classes}]: the probability of each label in labels.txt, in order.",
        input_range=(float(low), float(high)),
        pixel_mean=-low * 255.0 / (high - low),
        pixel_std=255.0 / (high - low),
        grayscale=image["channels"] == 1,
    )


def _schemas():
    # Imported here: only export and the tests need them, never the LiteRT serving path.
    from tensorflow_lite_support.metadata import metadata_schema_py_generated as meta
    from tensorflow_lite_support.metadata import schema_py_generated as tflite_schema

    return meta, tflite_schema


def _packed(table, identifier: bytes) -> bytes:
    """A flatbuffer object-API table serialised, with its file identifier."""
    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(table.Pack(builder), identifier)
    return bytes(builder.Output())


def _tensor(meta, name: str, description: str, kind: str, value_range=(0.0, 1.0)):
    """One tensor's metadata: its name, what it holds (ImageProperties or FeatureProperties) and
    its values' range (0..1 for MNIST's image, always for the probabilities)."""
    tensor = meta.TensorMetadataT()
    tensor.name, tensor.description = name, description
    tensor.content = meta.ContentT()
    tensor.content.contentPropertiesType = getattr(meta.ContentProperties, kind)
    tensor.content.contentProperties = getattr(meta, f"{kind}T")()
    tensor.stats = meta.StatsT()
    tensor.stats.min, tensor.stats.max = [float(value_range[0])], [float(value_range[1])]
    return tensor


def _metadata_buffer(name: str, description: str, version: str, contract: Contract = Contract()) -> bytes:
    meta, _ = _schemas()
    image = _tensor(meta, "image", contract.input_text, "ImageProperties", contract.input_range)
    space = meta.ColorSpaceType.GRAYSCALE if contract.grayscale else meta.ColorSpaceType.RGB
    image.content.contentProperties.colorSpace = space
    normalization = meta.ProcessUnitT()  # input = (pixel - mean) / std; MNIST's: (pixel - 0) / 255
    normalization.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = meta.NormalizationOptionsT()
    normalization.options.mean, normalization.options.std = [contract.pixel_mean], [contract.pixel_std]
    image.processUnits = [normalization]

    probabilities = _tensor(meta, "probabilities", contract.output_text, "FeatureProperties")
    labels = meta.AssociatedFileT()
    labels.name = LABELS_FILE
    labels.description = "The label of each output, one a line."
    labels.type = meta.AssociatedFileType.TENSOR_AXIS_LABELS
    probabilities.associatedFiles = [labels]

    subgraph = meta.SubGraphMetadataT()
    subgraph.inputTensorMetadata = [image]
    subgraph.outputTensorMetadata = [probabilities]
    model = meta.ModelMetadataT()
    model.name, model.description, model.version = name, description, version
    model.author = "MNIST everywhere (python -m pipeline)"
    model.license = "Apache-2.0"
    model.subgraphMetadata = [subgraph]
    model.minParserVersion = MIN_PARSER_VERSION
    return _packed(model, METADATA_FILE_IDENTIFIER)


def embed(
    flatbuffer: bytes, *, name: str, description: str, version: str, labels: str, contract: Contract = Contract()
) -> bytes:
    """The model with its metadata and labels.txt inside; the graph and signatures are unchanged."""
    _, tflite_schema = _schemas()
    model = tflite_schema.ModelT.InitFromObj(tflite_schema.Model.GetRootAsModel(flatbuffer, 0))
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].inputs) != 1 or len(model.subgraphs[0].outputs) != 1:
        raise ValueError("TFLite metadata here describes one subgraph with one input and one output")
    buffer = tflite_schema.BufferT()
    buffer.data = _metadata_buffer(name, description, version, contract)
    model.buffers = (model.buffers or []) + [buffer]
    field = tflite_schema.MetadataT()
    field.name = METADATA_FIELD_NAME
    field.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_FIELD_NAME.encode()]
    model.metadata.append(field)
    archive = io.BytesIO(_packed(model, TFLITE_FILE_IDENTIFIER))
    archive.seek(0, io.SEEK_END)
    with zipfile.ZipFile(archive, "a") as zipped:  # appended, as MetadataPopulator does
        zipped.writestr(LABELS_FILE, labels)
    return archive.getvalue()


def read(flatbuffer: bytes) -> dict:
    """What a .tflite says about itself: name, description, version, tensors and labels."""
    meta, tflite_schema = _schemas()
    model = tflite_schema.Model.GetRootAsModel(flatbuffer, 0)
    found = [
        model.Metadata(i)
        for i in range(model.MetadataLength())
        if model.Metadata(i).Name() == METADATA_FIELD_NAME.encode()
    ]
    if not found:
        raise ValueError("the model carries no TFLite metadata")
    data = model.Buffers(found[0].Buffer()).DataAsNumpy().tobytes()
    if not meta.ModelMetadata.ModelMetadataBufferHasIdentifier(data, 0):
        raise ValueError("the TFLite metadata buffer has the wrong identifier")
    described = meta.ModelMetadataT.InitFromObj(meta.ModelMetadata.GetRootAsModelMetadata(data, 0))
    subgraph = described.subgraphMetadata[0]

    def tensor(t) -> dict:
        return {
            "name": t.name.decode(),
            "description": t.description.decode(),
            "min": [float(v) for v in t.stats.min],
            "max": [float(v) for v in t.stats.max],
            "associated_files": [f.name.decode() for f in t.associatedFiles or []],
        }

    with zipfile.ZipFile(io.BytesIO(flatbuffer)) as zipped:
        packed = {name: zipped.read(name).decode() for name in zipped.namelist()}
    return {
        "name": described.name.decode(),
        "description": described.description.decode(),
        "version": described.version.decode(),
        "min_parser_version": described.minParserVersion.decode(),
        "inputs": [tensor(t) for t in subgraph.inputTensorMetadata],
        "outputs": [tensor(t) for t in subgraph.outputTensorMetadata],
        "labels": packed[LABELS_FILE].splitlines() if LABELS_FILE in packed else None,
        "files": sorted(packed),
    }
