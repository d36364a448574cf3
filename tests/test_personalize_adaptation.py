"""The on-device adaptation kit: exported next to a base model, verified in TF.js (Node) and LiteRT."""

from __future__ import annotations

import numpy as np

from pipeline.files import sha256_file
from pipeline.manifest import method_record


def test_the_adaptation_kit_matches_the_blend_inputs_in_every_runtime(cnn_dir, tmp_path, mnist):
    from pipeline import adaptation, blend
    from pipeline.adaptation import export_adaptation
    from pipeline.formats import tfjs, tflite
    from pipeline.formats.keras_format import load as load_keras_model
    from pipeline.style_set import style_set

    base = load_keras_model(cnn_dir / "model.keras")
    (_, _), (x_test, _) = mnist
    section = export_adaptation(base, "cnn", tmp_path, x_test[:1000].astype(np.float32) / 255.0, verbose=False)

    assert [a["id"] for a in section["artifacts"]] == ["adaptation-tfjs", "adaptation-tflite"]
    for artifact in section["artifacts"]:
        assert artifact["verification"]["passed"] and artifact["verification"]["max_abs_diff"] <= 1e-4
        for entry in artifact["files"]:
            assert sha256_file(tmp_path / entry["path"]) == entry["sha256"]
    assert not list(tmp_path.glob(".adaptation-*")), "the scratch SavedModel is not shipped"
    assert section["method"] == method_record()

    replay = np.fromfile(tmp_path / section["replay"]["path"], dtype="<f4").reshape(section["replay"]["shape"])
    features = int(np.prod(base.get_layer(blend.FEATURE_LAYER).output.shape[1:]))  # 864 for the cnn
    assert replay.shape == (10 * blend.REPLAY_PER_CLASS, features)
    assert section["replay"]["labels"] == sorted(section["replay"]["labels"])
    assert section["replay"]["sha256"] == sha256_file(tmp_path / section["replay"]["path"])
    assert np.allclose(np.linalg.norm(replay, axis=1), 1, atol=1e-5)

    # what a device computes from the kit equals the Python blend's inputs
    images = style_set("eastern-arabic", 2, seed=70)[0]
    features, probabilities = blend.features_and_probabilities(blend.feature_model(base), images)
    expected = np.concatenate([features, probabilities], axis=1)
    on_node = tfjs.predict(tmp_path / section["artifacts"][0]["path"], images)
    on_litert = tflite.predict(
        tflite.LiteRTModel(tmp_path / section["artifacts"][1]["path"], output=adaptation.OUTPUT_NAME), images
    )
    assert np.abs(on_node - expected).max() < 1e-4 and np.abs(on_litert - expected).max() < 1e-4
