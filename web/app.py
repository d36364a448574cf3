"""Upload a picture or take one with the camera, and a published image classifier reads it; for the
digit models, draw a digit or pick an MNIST test image too.

    streamlit run web/app.py          # from any directory; security defaults: web/.streamlit/config.toml

The models come from exported_models/ ($MNIST_MODELS_DIR overrides it): the digit models and models
of one's own (pipeline/own_model.py), each prepared for as its manifest says (Classifier). Everything
that is not UI lives in web/serving.py.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

# `streamlit run` puts web/ on sys.path, not the repository root: make `pipeline` importable.
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from pipeline import strokes  # noqa: E402
from pipeline.errors import PipelineError  # noqa: E402
from pipeline.manifest import FIX, load_manifest, read_index  # noqa: E402
from pipeline.preprocess import MAX_BYTES, BlankImageError, NotOneDigitError, read_image  # noqa: E402
from pipeline.runtime import Classifier, default_models_dir  # noqa: E402
from pipeline.verify import human_bytes  # noqa: E402
from web import personal as teaching  # noqa: E402
from web import serving  # noqa: E402

LOG = logging.getLogger("mnist_app")
# web/static/drawing.json, read by the page too: one canvas size and stroke width (its "about" says why).
DRAWING = strokes.pad_settings()
CANVAS_SIZE, STROKE_WIDTH = DRAWING["canvas_size"], DRAWING["stroke_width"]
SIGNATURE_ICONS = {True: ":material/verified_user:", False: ":material/gpp_maybe:"}  # verified or not


# streamlit-drawable-canvas floats its undo/redo/reset toolbar over the top band of the canvas
# (invisible until hovered, yet it takes the pointer): a stroke starting there drew nothing. The
# app has its own Clear button, so the toolbar goes. The canvas lives in an open shadow root that
# page CSS cannot reach: a style is put inside each one as it mounts (each page load mounts one).
HIDE_CANVAS_TOOLBAR = """<script>
(() => {
  if (window.mnistHidesCanvasToolbar) return;
  window.mnistHidesCanvasToolbar = true;
  const hide = () => {
    for (const host of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
      for (const element of [host, ...host.querySelectorAll("*")]) {
        const root = element.shadowRoot;
        if (root && root.querySelector(".dc-toolbar") && !root.querySelector("style[data-mnist]")) {
          const style = document.createElement("style");
          style.dataset.mnist = "hide-toolbar";
          style.textContent = ".dc-toolbar { display: none !important; }";
          root.appendChild(style);
        }
      }
    }
  };
  hide();
  new MutationObserver(hide).observe(document.body, {childList: true, subtree: true});
})();
</script>"""


# The pad's column is never narrower than the pad: a third of the main area beside the sidebar is
# 239 px in a 1200 px window, 265 px in a 1280 px one, and the answer's column covered the canvas's edge.
# The answer's column gives way instead (side by side from Streamlit's 640 px breakpoint up).
CANVAS_HOST = '[data-testid="stBidiComponentIsolated"]'  # the canvas component's element
PAD_COLUMN = f"""<style>
[data-testid="stColumn"]:has({CANVAS_HOST}) {{ min-width: {CANVAS_SIZE + 2}px; }}
@media (min-width: 640px) {{ [data-testid="stHorizontalBlock"]:has({CANVAS_HOST}) {{ flex-wrap: nowrap; }} }}
</style>"""


# Clear empties the same canvas rather than mounting a new one: a canvas remounted by Clear showed
# before it took strokes (the load benchmark lost 16 of 50 first strokes after a Clear) and, for a
# moment, beside the old one. A changed `initial_drawing` makes the component empty itself and send
# the empty drawing; until then the drawing it last sent is still the widget's value, so the app
# remembers that drawing's digest and shows it as blank.
CANVAS_KEY = "canvas"
ANSWER_WIDTH = 170  # px: the prediction, the 28x28 it read and the captions, beside the probabilities


def clear_canvas() -> None:
    st.session_state["canvas_clears"] = st.session_state.get("canvas_clears", 0) + 1
    st.session_state["cleared_drawing"] = st.session_state.get("shown_drawing")


def current_drawing(drawing) -> bytes | None:
    """The canvas's PNG, or None when it is empty or still the drawing Clear has just removed."""
    digest = None if drawing.image_bytes is None else hashlib.sha256(drawing.image_bytes).hexdigest()
    st.session_state["shown_drawing"] = digest
    if digest is not None and digest == st.session_state.get("cleared_drawing"):
        return None
    st.session_state["cleared_drawing"] = None  # the component has sent something new since
    return drawing.image_bytes


def pad_image(drawing, picture: bytes) -> np.ndarray:
    """What the pad's drawing is read as: its strokes redrawn with a pen in proportion to the drawing
    (pipeline/strokes.py, as the page does), or the canvas's PNG when it sent no paths."""
    paths = strokes.fabric_strokes(drawing.json_data)
    return strokes.redraw(paths, DRAWING) if paths else read_image(picture)


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def cached_classifier(
    model_dir: str, runtime: str, variant: str, fingerprint: tuple, public_key: str | None
) -> Classifier:
    """One Classifier per process and (model, runtime, variant, public key), shared by every session.

    Classifier is thread-safe (LiteRT behind a lock). `fingerprint` changes when the model is
    republished or re-signed, so a new export is loaded (and verified) without a restart. Failures
    are not cached.
    """
    return serving.load_classifier(model_dir, runtime, variant, public_key)


@st.cache_resource(show_spinner="Loading the MNIST test set…")
def cached_test_set() -> tuple[np.ndarray, np.ndarray]:
    return serving.mnist_test_set()


def sidebar(root: Path) -> tuple[Path, serving.RuntimeOption]:
    """Model and runtime choices, with each runtime's accuracy and size and the model card's plots."""
    names, default = read_index(root)
    with st.sidebar:
        name = st.selectbox("Model", names, index=names.index(default), key="model")
        model_dir = root / name
        manifest = load_manifest(model_dir)
        st.caption(manifest.get("description", ""))
        options = serving.runtime_options(manifest)
        labels = [option.label for option in options]
        label = st.selectbox("Runtime", labels, index=serving.default_option(options), key="runtime")
        # A table wraps to the sidebar's width (st.dataframe's grid cut off the Size column); the
        # runtime names wrap, a size does not (a no-break space).
        st.table(
            pd.DataFrame(
                {
                    "Runtime": labels,
                    "Accuracy": ["–" if o.accuracy is None else f"{o.accuracy:.2%}" for o in options],
                    "Size": [human_bytes(o.bytes).replace(" ", "\u00a0") for o in options],
                }
            ),
            hide_index=True,
        )
        st.caption(serving.accuracy_note(manifest))
        left_out = serving.left_out(manifest)
        if left_out:  # formats that could not convert or run the model, variants that missed a tolerance
            with st.expander(f"Not published ({len(left_out)})"):
                for line in left_out:
                    st.text(line)
        for title, path in serving.plots(model_dir, manifest):
            with st.expander(title):
                st.image(str(path))
    return model_dir, options[labels.index(label)]


def show_prediction(classifier: Classifier, option: serving.RuntimeOption, image, blank_hint: str, kit=None):
    """The most probable label, the probability of every label, the image the model saw (28x28 for the
    digit models), runtime and time.

    With a teaching `kit` (digit models), the session's taught examples adapt the answer. Returns the
    image the model saw.
    """
    try:
        result = serving.classify(classifier, image)
    except BlankImageError:
        st.info(blank_hint)
        return None
    except NotOneDigitError as refusal:  # two digits side by side, or only specks: the reason, no digit
        st.warning(str(refusal))
        return None
    except PipelineError as exc:  # an image the model's recipe cannot take: one sentence
        st.error(str(exc))
        return None
    prediction = result.prediction
    probabilities, note = teaching.adjust(kit, prediction.image, prediction.probabilities)
    index = int(np.argmax(probabilities))
    height, width = serving.input_size(classifier)
    # a row that wraps rather than fixed columns: beside the pad, in a window under 1000 px with the
    # sidebar open, a third of the answer's column was 40 px and broke every word of its captions
    with st.container(horizontal=True, gap="medium"):
        with st.container(width=ANSWER_WIDTH):
            st.metric("Prediction", classifier.labels[index])
            st.caption(f"confidence {probabilities[index]:.1%}")
            if note:
                st.caption(note)
            st.image(
                serving.model_view(classifier, prediction.image),
                caption=f"What the model saw ({height}×{width})",
                clamp=True,
            )
            st.caption(f"{option.label} · {result.milliseconds:.2f} ms (preprocessing + inference)")
        with st.container(width="stretch"):
            chart = pd.DataFrame({"label": classifier.labels, "probability": probabilities})
            st.bar_chart(chart, x="label", y="probability", sort=False)
    return prediction.image


def draw_tab(classifier, option, kit=None) -> None:
    from streamlit_drawable_canvas import st_canvas  # only importable inside the Streamlit runtime

    left, right = st.columns([1, 2])
    with left:
        st.caption("Draw one digit:")
        drawing = st_canvas(
            stroke_width=STROKE_WIDTH,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIZE,
            width=CANVAS_SIZE,
            drawing_mode="freedraw",
            update_streamlit=True,
            return_image_data=True,
            initial_drawing={"objects": [], "clears": st.session_state.get("canvas_clears", 0)},
            key=CANVAS_KEY,
        )
        st.button("Clear", on_click=clear_canvas, icon=":material/delete:")
        st.html(HIDE_CANVAS_TOOLBAR, unsafe_allow_javascript=True)
        st.html(PAD_COLUMN)
    with right:
        hint = "Draw a digit (0–9) on the black square: the prediction follows as you draw."
        seen = None
        picture = current_drawing(drawing)
        if picture is None:
            st.info(hint)
        else:
            try:
                image = pad_image(drawing, picture)
            except PipelineError as exc:
                st.error(str(exc))
                return
            seen = show_prediction(classifier, option, image, hint, kit)
        teaching.teach_panel(kit, seen, clear_canvas)


BLANK_PICTURE = "The image is blank: there is no digit to read."


def show_picture(classifier, option, data: bytes, name: str | None) -> None:
    """A PNG or JPEG (an upload, a camera photo) read by the model; one sentence if it is unreadable.
    `name`: show the picture too, with this caption (the camera shows its own photo)."""
    try:
        image = read_image(data)
    except PipelineError as exc:
        st.error(str(exc))
        return
    if name is not None:
        st.image(data, caption=name, width=140)
    show_prediction(classifier, option, image, BLANK_PICTURE)


def upload_tab(classifier, option) -> None:
    upload = st.file_uploader(
        "A PNG or JPEG of one digit (dark on light paper is fine)"
        if classifier.mnist_recipe
        else f"A PNG or JPEG picture: {serving.labels_hint(classifier.labels)}",
        type=["png", "jpg", "jpeg"],
        max_upload_size=MAX_BYTES // 2**20,
        key="upload",
    )
    if upload is not None:
        show_picture(classifier, option, upload.getvalue(), upload.name)


def camera_tab(classifier, option, shown: bool | None) -> None:
    """The camera is switched on only while its tab is open: a camera in a hidden tab would ask for
    permission as soon as the page loads."""
    if shown is False:
        return
    photo = st.camera_input(
        "A photo of one digit on paper" if classifier.mnist_recipe else "A photo to classify", key="camera"
    )
    if photo is not None:
        show_picture(classifier, option, photo.getvalue(), None)


def test_digit_tab(classifier, option) -> None:
    clicked = st.button("Random test digit", key="random")
    if not clicked and "test_index" not in st.session_state:
        st.caption("Shows one of MNIST's test images, its true label and the prediction.")
        return
    try:
        images, labels = cached_test_set()
    except PipelineError as exc:  # no cached copy and npm unreachable
        st.error(str(exc))
        return
    if clicked:
        st.session_state["test_index"] = int(np.random.default_rng().integers(len(images)))
    index = st.session_state["test_index"]
    st.write(f"MNIST test image #{index}: true label **{labels[index]}**")
    show_prediction(classifier, option, images[index], "This test image is blank.")


def run_app(heading) -> None:
    model_dir, option = sidebar(default_models_dir())
    classifier = cached_classifier(
        str(model_dir),
        option.runtime,
        option.variant,
        serving.fingerprint(model_dir),
        serving.public_key_setting(),
    )
    with st.sidebar:  # what the app knows about where the model came from
        # Material icons come with Streamlit's own font; an emoji needs a colour-emoji font that many
        # machines lack (a missing-glyph box)
        verified = classifier.signature.startswith("signed and verified")
        (st.success if verified else st.info)(f"Signature: {classifier.signature}", icon=SIGNATURE_ICONS[verified])
    if classifier.mnist_recipe:
        digits_tabs(classifier, option, model_dir)
    else:
        heading.title(f"Image classifier: {model_dir.name}")
        image_tabs(classifier, option)


def digits_tabs(classifier, option, model_dir: Path) -> None:
    """The digit models: drawing (and teaching), upload, camera and MNIST's test digits."""
    try:
        kit = teaching.cached_kit(str(model_dir), serving.fingerprint(model_dir))
    except PipelineError as exc:  # teaching is an extra: the published model works without it
        st.warning(f"Teaching is unavailable: {exc}")
        kit = None
    # Switching tabs reruns the script (on_change): the camera runs only in its open tab
    draw, upload, camera, test = st.tabs(
        ["Draw", "Upload", "Camera", "Random test digit"], key="digit-tabs", on_change="rerun"
    )
    with draw:
        draw_tab(classifier, option, kit)
    with upload:
        upload_tab(classifier, option)
    with camera:
        camera_tab(classifier, option, camera.open)
    with test:
        test_digit_tab(classifier, option)


def image_tabs(classifier, option) -> None:
    """Any other image classifier: upload and camera (drawing and MNIST's test digits are for digits)."""
    upload, camera = st.tabs(["Upload", "Camera"], key="image-tabs", on_change="rerun")
    with upload:
        upload_tab(classifier, option)
    with camera:
        camera_tab(classifier, option, camera.open)


def main() -> None:
    st.set_page_config(page_title="MNIST digits", page_icon="✏️", layout="wide")
    heading = st.empty()  # a model of one's own puts its own title here
    heading.title("Handwritten digits")
    try:
        run_app(heading)
    except PipelineError as exc:  # missing or damaged model, bad index: say what to run
        st.error(str(exc))
    except Exception as exc:  # never a traceback in the page; the log has it
        LOG.exception("Unexpected error")
        st.error(
            f"Something went wrong ({type(exc).__name__}: {exc}). The server log has the "
            f"details. If a model is at fault, {FIX}."
        )


main()
