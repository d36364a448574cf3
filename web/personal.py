"""The app's "teach it your handwriting": the page's method, on the published model's adaptation kit.

The examples live in `st.session_state`: one browser session, never another, gone when it ends. The
features come from the kit's .tflite (LiteRT, no TensorFlow), the blend's constants from the manifest
(as the page takes them) and its formula from pipeline/blend.py, so the app adapts exactly as
the page and `personalize` do. Test hooks: buttons keyed teach-0 …
teach-9, forget, export-examples (a download), import-examples (an uploader); the count reads
"N examples taught".
"""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from pipeline import blend
from pipeline.errors import PipelineError
from pipeline.examples_file import MAX_EXAMPLES, examples_document, parse_examples
from pipeline.runtime import AdaptationKit as Kit


@st.cache_resource(show_spinner="Loading what teaching needs…", max_entries=4)
def cached_kit(model_dir: str, fingerprint: tuple) -> Kit | None:
    """The model's adaptation kit, each file checked against the manifest; None if it has none."""
    return Kit.load(model_dir)


def examples_key(kit: Kit) -> str:
    return f"examples-{kit.model}-{kit.manifest_sha256}"


def examples(kit: Kit) -> list[tuple[int, np.ndarray]]:
    return st.session_state.setdefault(examples_key(kit), [])


def fitted(kit: Kit) -> blend.Adapter | None:
    """The blend fitted on this session's examples, refitted only when they change."""
    taught = examples(kit)
    if not taught:
        return None
    cache = st.session_state.get("personal-fit")
    if cache and cache[0] == (examples_key(kit), len(taught)):
        return cache[1]
    images = np.stack([image for _, image in taught])
    features, _ = kit.features(blend.shifted_copies(images, kit.constants.shifts))
    adapter = blend.fit_adapter(features, np.array([label for label, _ in taught]), kit.replay, kit.constants)
    st.session_state["personal-fit"] = ((examples_key(kit), len(taught)), adapter)
    return adapter


def adjust(kit: Kit | None, image: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, str | None]:
    """The published probabilities of `image` (28x28) -> the session's personal ones, and a note."""
    adapter = fitted(kit) if kit else None
    if adapter is None:
        return probabilities, None
    features, _ = kit.features(image[None])
    blended = blend.blend(features, np.asarray(probabilities)[None], adapter)[0]
    taught = len(examples(kit))
    closeness = float((features @ adapter.examples.T).max() - (features @ adapter.replay.T).max())
    note = (
        f"Personalised: read with your {taught} example{'s' if taught != 1 else ''}."
        if closeness > kit.constants.gate_margin
        else "The published model's answer (your examples do not look like this drawing)."
    )
    return blended, note


def teach(kit: Kit, digit: int, image: np.ndarray, after) -> None:
    taught = examples(kit)
    if len(taught) >= MAX_EXAMPLES:
        st.session_state["personal-problem"] = (
            f"You have taught {MAX_EXAMPLES} examples, the most kept; forget them to start again."
        )
        return
    taught.append((digit, np.asarray(image, np.float32).copy()))
    after()


def forget(kit: Kit) -> None:
    st.session_state[examples_key(kit)] = []
    st.session_state.pop("personal-fit", None)


def import_examples(kit: Kit) -> None:
    upload = st.session_state.get(f"import-examples-{st.session_state.get('import-generation', 0)}")
    if upload is None:
        return
    st.session_state["import-generation"] = st.session_state.get("import-generation", 0) + 1
    try:
        images, labels = parse_examples(
            upload.getvalue(), kit.model, kit.manifest_sha256, name=f"The file {upload.name}"
        )
        if len(labels) + len(examples(kit)) > MAX_EXAMPLES:
            raise PipelineError(
                f"With {upload.name} there would be more than the {MAX_EXAMPLES} examples allowed."
            )
    except PipelineError as exc:
        st.session_state["personal-problem"] = f"{exc} Nothing was imported."
        return
    examples(kit).extend(zip(labels.tolist(), images))
    st.session_state.pop("personal-problem", None)


def teach_panel(kit: Kit | None, image: np.ndarray | None, after_teach) -> None:
    """ "Not right? This is a …", the count, Forget, export and import."""
    if kit is None:
        return
    st.write("Not right? This is a …")
    # a row that wraps: fixed columns (ten, or two rows of five) left each button 26 px in a window
    # 769 to 1000 px wide with the sidebar open, too narrow to show its digit
    with st.container(horizontal=True, gap="small"):
        for digit in range(10):
            st.button(
                str(digit),
                key=f"teach-{digit}",
                disabled=image is None,
                on_click=teach,
                args=(kit, digit, image, after_teach),
            )
    taught = examples(kit)
    st.caption(
        f"{len(taught)} example{'s' if len(taught) != 1 else ''} taught · they stay in this "
        "browser session: they never leave it, and no other session sees them."
    )
    with st.container(horizontal=True, gap="small"):
        st.button("Forget", key="forget", on_click=forget, args=(kit,), disabled=not taught)
        st.download_button(
            "Export examples",
            key="export-examples",
            file_name=f"{kit.model}-examples.json",
            mime="application/json",
            disabled=not taught,
            data=json.dumps(
                examples_document(
                    np.array([i for _, i in taught]).reshape(-1, 28, 28),
                    [label for label, _ in taught],
                    kit.model,
                    kit.manifest_sha256,
                )
            ),
        )
    st.file_uploader(
        "Import examples (JSON)",
        type=["json"],
        on_change=import_examples,
        args=(kit,),
        key=f"import-examples-{st.session_state.get('import-generation', 0)}",
    )
    if st.session_state.get("personal-problem"):
        st.error(st.session_state["personal-problem"])
