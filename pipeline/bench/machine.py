"""What the benchmark ran on: CPU, memory, OS, accelerator, package versions."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> dict:
    cpu = platform.processor() or "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory_gib = round(kib / 2**20, 1)
    from pipeline.provenance import package_versions
    from pipeline.tf_setup import describe_device

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": f"{platform.system()} {platform.release()}",
        "training_device": describe_device(),
        "versions": package_versions(),
    }
