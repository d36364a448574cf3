"""OpenSSF model signing of published model folders, and verification before anything is loaded.

The manifest's sha256s catch accidents (a truncated copy, a flipped bit); whoever can write the
folder can rewrite them too. The signature catches that: `export` signs the whole staging folder
with an elliptic-curve private key (`--signing-key` or $MNIST_SIGNING_KEY) and writes
`<model>/model.sig`, a Sigstore bundle over the sha256 of every file of the folder. Readers given
the public key (`--public-key` or $MNIST_PUBLIC_KEY) verify it before they open any file, and
refuse the folder in one sentence on any difference: a changed byte, an added or removed file, a
swapped, truncated or foreign signature, a missing one.

Uses the `model_signing` library (model-signing 1.x) with a local key: no network, no Sigstore
transparency log. The library is imported only when a key is given (it takes ~2 s to import).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pipeline.errors import PipelineError

SIGNATURE = "model.sig"
SIGNING_KEY_ENV = "MNIST_SIGNING_KEY"
PUBLIC_KEY_ENV = "MNIST_PUBLIC_KEY"
CURVES = ("secp256r1", "secp384r1", "secp521r1")  # what model_signing's elliptic-key signer takes
NO_KEY = f"unsigned: no signing key (give --signing-key KEY.pem or set ${SIGNING_KEY_ENV}; see docs/security.md)"


def _key_file(path: str | Path | None, env: str) -> Path | None:
    chosen = path or os.environ.get(env) or None
    return Path(chosen) if chosen else None


def signing_key(path: str | Path | None = None) -> Path | None:
    """The private key to sign with (`path`, else $MNIST_SIGNING_KEY), checked; None if neither.

    Checked at once, so a bad key fails before training, not after it.
    """
    key = _key_file(path, SIGNING_KEY_ENV)
    if key is None:
        return None
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except OSError as exc:
        raise PipelineError(f"The signing key {key} cannot be read ({exc.strerror}).") from exc
    except (ValueError, TypeError) as exc:  # not PEM, encrypted, or not a private key
        raise PipelineError(f"The signing key {key} is not an unencrypted PEM private key ({exc}).") from exc
    if not (isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name in CURVES):
        raise PipelineError(
            f"The signing key {key} is not an elliptic-curve P-256, P-384 or P-521 "
            "key (make one with `openssl ecparam -name prime256v1 -genkey -noout`)."
        )
    return key


def public_key(path: str | Path | None = None) -> Path | None:
    """The public key to verify with (`path`, else $MNIST_PUBLIC_KEY); None if neither."""
    key = _key_file(path, PUBLIC_KEY_ENV)
    if key is not None and not key.is_file():
        raise PipelineError(f"The public key {key} does not exist.")
    return key


def _hashing_config():
    from model_signing import hashing

    # every file counts, .git* ones too; the signature is recorded as the one file left out, so
    # the upstream verifier (`model_signing verify`) accepts the folder as it is
    return hashing.Config().set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)


def sign_folder(folder: Path, key: Path) -> Path:
    """Sign every file of `folder` with the private key `key`; returns the signature's path."""
    import model_signing

    signature = Path(folder) / SIGNATURE
    signature.unlink(missing_ok=True)
    (
        model_signing.signing.Config()
        .set_hashing_config(_hashing_config())
        .use_elliptic_key_signer(private_key=key)
        .sign(Path(folder), signature)
    )
    return signature


def _differences(message: str) -> str:
    """model_signing's mismatch report, as a short list of what changed."""
    found = []
    for what, pattern in (
        ("changed", r"Hash mismatch for \\?'(.+?)\\?'"),
        ("added", r"Extra files found in model '.+?': ([^\"]+)"),
        ("removed", r"Missing files in model '.+?': ([^\"]+)"),
    ):
        names = re.findall(pattern, message)
        if names:
            found.append(f"{what}: {', '.join(names)}")
    return "; ".join(found) or "its files differ from the signed ones"


def verify_folder(folder: Path, key: Path) -> None:
    """Check `folder/model.sig` against the public key and every file of `folder`, reading nothing
    else first; PipelineError (one sentence naming the signature) on any difference."""
    folder = Path(folder)
    signature = folder / SIGNATURE
    refused = "the model was not loaded"
    if not folder.is_dir():
        raise PipelineError(f"Model folder {folder} does not exist.")
    if not signature.is_file():
        raise PipelineError(
            f"The signature {signature} is missing and a public key ({key}) is configured: {refused}."
        )
    import model_signing

    try:
        verifier = (
            model_signing.verifying.Config()
            .set_hashing_config(_hashing_config())
            .use_elliptic_key_verifier(public_key=key)
        )
    except (ValueError, TypeError) as exc:  # not PEM, or a private key given by mistake
        raise PipelineError(
            f"The public key {key} is not a PEM elliptic-curve public key "
            f"({str(exc).split('. ')[0]}): the model at {folder} was not loaded."
        ) from exc
    try:
        verifier.verify(folder, signature)
    except json.JSONDecodeError as exc:  # a truncated or foreign file (a ValueError too)
        raise PipelineError(
            f"The signature {signature} is damaged or not a signature bundle (not valid JSON): {refused}."
        ) from exc
    except ValueError as exc:
        text = str(exc)
        if text.startswith("Signature mismatch"):
            reason = f"does not match the folder's files ({_differences(text)})"
        elif "Key mismatch" in text:
            reason = f"was not made with the private key of {key}"
        else:
            reason = f"is not valid ({text.splitlines()[0] if text else type(exc).__name__})"
        raise PipelineError(f"The signature {signature} {reason}: {refused}.") from exc
    except Exception as exc:  # truncated or not a bundle: JSON, protobuf and crypto errors
        raise PipelineError(
            f"The signature {signature} is damaged or not a signature bundle ({type(exc).__name__}): {refused}."
        ) from exc


def status(folder: Path, key: Path | None) -> str:
    """For people: what a reader knows about the folder's signature (after verify_folder if key)."""
    if key is not None:
        return f"signed and verified with {key.name}"
    if (Path(folder) / SIGNATURE).is_file():
        return f"signed, not verified (no public key: set ${PUBLIC_KEY_ENV})"
    return "not signed"
