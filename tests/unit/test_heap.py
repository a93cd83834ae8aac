"""The process heap's mmap threshold (indexflow.heap): set once, by the runtime, on glibc."""

from __future__ import annotations

import platform
import subprocess
import sys

from indexflow.heap import configure_heap
from indexflow.settings import Settings


def test_zero_keeps_glibc_dynamic_threshold() -> None:
    assert configure_heap(0) is False


def test_default_setting_is_one_mib() -> None:
    assert Settings().malloc_mmap_threshold_kb == 1024


def test_first_call_of_a_process_wins() -> None:
    # A fresh interpreter: this test process's runtimes have set the threshold already.
    code = (
        "from indexflow.heap import applied_threshold_kb, configure_heap\n"
        "print(configure_heap(2048), configure_heap(2048), configure_heap(4096), applied_threshold_kb())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    if platform.libc_ver()[0] == "glibc":
        assert out.stdout.split() == ["True", "True", "False", "2048"]
    else:  # no mallopt: nothing is set, and it says so
        assert out.stdout.split() == ["False", "False", "False", "0"]


def test_runtime_sets_it(tmp_path: object) -> None:
    code = (
        "import sys\n"
        "from indexflow.heap import configure_heap\n"
        "from indexflow.runtime import Runtime\n"
        "from indexflow.settings import Settings\n"
        "Runtime(Settings(home=sys.argv[1], malloc_mmap_threshold_kb=512))\n"
        "print(configure_heap(512))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out.stdout.split() == [expected]
