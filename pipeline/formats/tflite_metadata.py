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


def _tensor(meta, name: str, description: str, kind: str):
    """One tensor's metadata: its name, what it holds (ImageProperties or FeatureProperties) and
    its values' range, 0..1 for both the image and the probabilities."""
    tensor = meta.TensorMetadataT()
    tensor.name, tensor.description = name, description
    tensor.content = meta.ContentT()
    tensor.content.contentPropertiesType = getattr(meta.ContentProperties, kind)
    tensor.content.contentProperties = getattr(meta, f"{kind}T")()
    tensor.stats = meta.StatsT()
    tensor.stats.min, tensor.stats.max = [0.0], [1.0]
    return tensor


def _metadata_buffer(name: str, description: str, version: str) -> bytes:
    meta, _ = _schemas()
    image = _tensor(meta, "image", INPUT_CONTRACT, "ImageProperties")
    image.content.contentProperties.colorSpace = meta.ColorSpaceType.GRAYSCALE
    normalization = meta.ProcessUnitT()  # input = (pixel - 0) / 255
    normalization.optionsType = meta.ProcessUnitOptions.NormalizationOptions
    normalization.options = meta.NormalizationOptionsT()
    normalization.options.mean, normalization.options.std = [0.0], [255.0]
    image.processUnits = [normalization]

    probabilities = _tensor(meta, "probabilities", OUTPUT_CONTRACT, "FeatureProperties")
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


def embed(flatbuffer: bytes, *, name: str, description: str, version: str, labels: str) -> bytes:
    """The model with its metadata and labels.txt inside; the graph and signatures are unchanged."""
    _, tflite_schema = _schemas()
    model = tflite_schema.ModelT.InitFromObj(tflite_schema.Model.GetRootAsModel(flatbuffer, 0))
    if len(model.subgraphs) != 1 or len(model.subgraphs[0].inputs) != 1 or len(model.subgraphs[0].outputs) != 1:
        raise ValueError("TFLite metadata here describes one subgraph with one input and one output")
    buffer = tflite_schema.BufferT()
    buffer.data = _metadata_buffer(name, description, version)
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
