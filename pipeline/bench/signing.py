"""Time to sign and to verify each published model folder (OpenSSF model signing, P-256 key).

Signs a copy of each folder with a throw-away key made here (the maintainer's key is never needed),
then verifies it as `predict --public-key` does. The library's import (~2 s) is timed apart: a
long-lived app pays it once, a `predict` command every time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.bench.stats import summary
from pipeline.manifest import read_index


def import_seconds() -> float:
    """`import model_signing` in a fresh interpreter (in this one it is already imported)."""
    code = "import time; t = time.perf_counter(); import model_signing; print(time.perf_counter() - t)"
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    )


def throwaway_keys(folder: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / "bench-key.pem", folder / "bench-key.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def sign_and_verify(models_dir: Path, repeats: int = 10) -> dict:
    from pipeline import signing

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as tmp:
        private, public = throwaway_keys(Path(tmp))
        names, _ = read_index(models_dir)
        for name in names:
            folder = shutil.copytree(Path(models_dir) / name, Path(tmp) / name)
            (folder / signing.SIGNATURE).unlink(missing_ok=True)
            files = [p for p in folder.rglob("*") if p.is_file()]
            signing.sign_folder(folder, private)  # warm-up: imports, page cache
            sign, verify = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                signing.sign_folder(folder, private)
                sign.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                signing.verify_folder(folder, public)
                verify.append((time.perf_counter() - started) * 1000)
            rows.append(
                {
                    "model": name,
                    "files": len(files),
                    "bytes": sum(p.stat().st_size for p in files),
                    "sign_ms": summary(sign)["median"],
                    "verify_ms": summary(verify)["median"],
                }
            )
            print(
                f"  {name}: {len(files)} files, sign {rows[-1]['sign_ms']:.1f} ms, "
                f"verify {rows[-1]['verify_ms']:.1f} ms",
                flush=True,
            )
    return {"import_seconds": import_seconds(), "folders": rows}
